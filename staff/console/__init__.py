"""The staff console: the web page agents work in all day, at /console, and its login page.

The pages are static: an HTML shell and ES modules (static/) rendered with Preact and htm (vendor/, the
released npm files with their licences, see vendor/README.md), talking only to the staff API under
/staff/api/ with the session cookie and the X-CSRF-Token header. No staff data is in the HTML. /console
itself is served only to a signed-in session (others are sent to the login page), and the console also
goes to the login page whenever the API answers 401 (a session that expired while it was open).

Every response under /console carries a strict Content-Security-Policy (no inline script or style, no
eval, nothing from another origin), nosniff and a same-origin referrer policy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staff.errors import NotSignedIn

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = HERE / "vendor"

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
}


def mount_console(app: FastAPI, signed_in: Callable[[Request], object] | None = None) -> None:
    """Serve /console, /console/login and /console/static/ on `app`. `signed_in(request)` raises
    NotSignedIn for a request without a good session (the staff API's own check)."""
    # The vendor mount comes first: a Mount matches by prefix, and /console/static would take it otherwise.
    app.mount("/console/static/vendor", SecureHeaders(StaticFiles(directory=VENDOR)), name="console-vendor")
    app.mount("/console/static", SecureHeaders(StaticFiles(directory=STATIC)), name="console-static")

    @app.get("/console", include_in_schema=False)
    async def console(request: Request) -> Response:
        if signed_in is not None and not await run_in_threadpool(_has_session, signed_in, request):
            return _secured(RedirectResponse("/console/login", status_code=303))
        return _page("console.html")

    @app.get("/console/", include_in_schema=False)
    async def console_slash() -> Response:
        return _secured(RedirectResponse("/console", status_code=307))

    @app.get("/console/login", include_in_schema=False)
    async def login() -> Response:
        return _page("login.html")


def _has_session(signed_in: Callable[[Request], object], request: Request) -> bool:
    try:
        signed_in(request)
    except NotSignedIn:
        return False
    return True


def _page(name: str) -> Response:
    # no-store: a page shell must never come from a cache after a deploy changed the modules it loads.
    response = FileResponse(STATIC / name, media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store"})
    return _secured(response)


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


class SecureHeaders:
    """ASGI wrapper adding the console's security headers to every response of the app it wraps."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.decode("latin-1").lower() not in _LOWER_NAMES]
                headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
                # Revalidate every time: the modules have no hashed names, and a stale one breaks the page.
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except HTTPException as exc:
            # StaticFiles raises its 404 for the app's handler to answer, which would skip the headers.
            await PlainTextResponse(str(exc.detail), status_code=exc.status_code)(scope, receive, send_with_headers)


_LOWER_NAMES = frozenset(name.lower() for name in (*SECURITY_HEADERS, "cache-control"))
