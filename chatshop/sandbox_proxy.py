"""/sandbox on a worker of `chatshop serve --workers N`: forwards to the one sandbox the parent serves.

The sandbox keeps WeChat's state in memory (access tokens, reply windows, pay orders, the customer's
transcript). Served by every worker, a token issued by one would be refused by the next and a reply sent
through one would never show on a page polling another; so it runs once and every worker forwards
/sandbox to it, while the workers' own WeChat calls go to it directly (wechat.api_base_url, pay.api_base_url).
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

# Hop-by-hop headers, and the ones httpx has already applied (it decodes the body) or recomputes.
DROPPED_HEADERS = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length",
                             "content-encoding", "upgrade", "proxy-connection", "te", "trailer"})
FORWARD_TIMEOUT_S = 30.0  # a push to the store and its retries take up to 3 x 5 s


def sandbox_proxy(upstream: str) -> ASGIApp:
    """An ASGI app that forwards every HTTP request under its mount point to `upstream`."""
    client = httpx.AsyncClient(base_url=upstream.rstrip("/"), timeout=FORWARD_TIMEOUT_S, trust_env=False)

    async def forward(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the client lives as long as the process
            return
        request = Request(scope, receive)
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        query = scope.get("query_string", b"").decode("latin-1")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in DROPPED_HEADERS]
        try:
            answer = await client.request(request.method, f"{path}?{query}" if query else path, headers=headers,
                                          content=await request.body())
        except httpx.HTTPError as exc:
            response = Response(f"the sandbox did not answer: {type(exc).__name__}", status_code=502)
        else:
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in DROPPED_HEADERS}
            response = Response(answer.content, status_code=answer.status_code, headers=kept)
        await response(scope, receive, send)

    return forward
