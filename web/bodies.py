"""A request body read with a limit: refused from its Content-Length when that is too large, and
again as it streams, so an oversized body is never held in memory."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope


class BodyOverLimit(Exception):
    def __init__(self, limit: int, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyOverLimit(limit, f"Content-Length {declared} > {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyOverLimit(limit, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_limited_asgi(scope: Scope, receive: Receive, limit: int) -> bytes:
    """`read_limited` for a plain ASGI handler (web.raw_routes)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyOverLimit(limit, f"Content-Length {value.decode()} > {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyOverLimit(limit, f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
