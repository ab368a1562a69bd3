"""A request body read with a limit: refused from its Content-Length when that is too large, and
again as it streams, so an oversized body is never held in memory."""

from __future__ import annotations

from starlette.requests import Request


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
