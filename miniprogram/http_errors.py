"""Every refusal of the JSON APIs (/mp/, /admin/) becomes a response here, and only here.

Body: {"error": {"code": ..., "message": ..., "field": ...}}. Validation errors are 422 naming the
first offending field; the API's own errors and the commerce domain's carry their code and status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.types import Message

from miniprogram.errors import ApiError

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# Shown in the OpenAPI spec for every JSON route, in place of FastAPI's own validation schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "missing, unknown, expired or revoked token"),
        (404, "no such product, SKU or order (another customer's order included)"),
        (409, "conflict with the current state (out of stock, order not cancellable, ...)"),
        (413, "request body too large"),
        (422, "invalid request; `field` names the offending field"),
    )
}


def error_response(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field, **extra}}, status_code=status)


def validation_response(errors: Sequence[Any]) -> JSONResponse:
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    field = _field_name(first)
    return error_response(422, "invalid_request", f"{field}: {first['msg']}", field)


def _field_name(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid" or len(loc) <= 1:
        return loc[0] if loc else "body"  # the body as a whole is not JSON, or is missing
    return ".".join(loc[1:])  # drop "body" / "query" / "path"


def domain_response(exc: Any) -> JSONResponse:
    field = getattr(exc, "field", None)
    extra = exc.details() if hasattr(exc, "details") else {}
    log.info("refused: %s (%s)", exc.code, exc)
    return error_response(exc.http_status, exc.code, str(exc), field, **extra)


def api_response(exc: ApiError) -> JSONResponse:
    log.info("refused: %s (%s)", exc.code, exc.message)
    return error_response(exc.status, exc.code, exc.message, exc.field, **exc.extra())


class JsonApiRoute(APIRoute):
    """A route whose refusals are all mapped here, with a limit on the request body's size."""

    max_body_bytes = 16384

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        async def guarded(request: Request) -> Response:
            try:
                return await handler(await _with_bounded_body(request, limit))
            except RequestValidationError as exc:
                log.info("invalid request to %s: %s", request.url.path, exc.errors()[:1])
                return validation_response(exc.errors())
            except ApiError as exc:
                return api_response(exc)

        return guarded


def bounded_route(max_body_bytes: int) -> type[JsonApiRoute]:
    """The route class for one router, with its own body limit."""
    return type("BoundedJsonApiRoute", (JsonApiRoute,), {"max_body_bytes": max_body_bytes})


class BodyTooLarge(ApiError):
    code = "body_too_large"
    status = 413


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refused unread past `limit` bytes (Content-Length first, then as it streams)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body over {limit} bytes", field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body over {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def _with_bounded_body(request: Request, limit: int) -> Request:
    if request.method in ("GET", "HEAD", "DELETE"):
        return request
    body = await read_bounded(request, limit)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)
