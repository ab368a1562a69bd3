"""Routes answered by plain ASGI callables, in front of FastAPI's whole middleware stack.

The WeChat push endpoint is the service's hottest route and needs nothing of the framework: it reads
raw bytes, never raises (every failure is answered `success` or 403 itself) and writes a short body.
Measured under load, FastAPI's and Starlette's layers (the telemetry check FastAPI makes on every
request, error middleware, exception handling, routing, the Request and Response objects) cost more of
the event loop's time per push than decrypting it. A raw route is an exact method and path; everything
else goes to the app as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

RawHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class FastAPIWithRawRoutes(FastAPI):
    """FastAPI with `add_raw_route`: those routes are answered before FastAPI itself runs (its per-request
    telemetry check and Starlette's layers included); every other request goes to FastAPI as before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw_routes: dict[tuple[str, str], RawHandler] = {}

    def add_raw_route(self, method: str, path: str, handler: RawHandler) -> None:
        self.raw_routes[(method.upper(), path)] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.raw_routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def send_response(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    """A complete response in two messages (start, body), with its length."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
