"""Routes answered by plain ASGI callables, in front of FastAPI's whole middleware stack.

The WeChat push endpoint is the service's hottest route and needs nothing of the framework: it reads
raw bytes, never raises (every failure is answered `success` or 403 itself) and writes a short body.
Measured under load, FastAPI's and Starlette's layers (error and telemetry middleware, exception
handling, routing, the Request and Response objects) cost more of the event loop's time per push than
decrypting it. A raw route is an exact method and path; everything else goes to the app as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

RawHandler = Callable[[Scope, Receive, Send], Awaitable[None]]


class RawRoutes:
    """Dispatches exact (method, path) pairs to their handlers; anything else to `app`."""

    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], RawHandler]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)


class FastAPIWithRawRoutes(FastAPI):
    """FastAPI with `add_raw_route`: those routes are answered before any of its middleware runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.raw_routes: dict[tuple[str, str], RawHandler] = {}

    def add_raw_route(self, method: str, path: str, handler: RawHandler) -> None:
        self.raw_routes[(method.upper(), path)] = handler

    def build_middleware_stack(self) -> ASGIApp:
        return RawRoutes(super().build_middleware_stack(), self.raw_routes)


async def send_response(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    """A complete response in two messages (start, body), with its length."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
