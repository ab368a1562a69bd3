"""Every refusal of the JSON APIs (/mp/, /admin/, /staff/api/) becomes a response here, and only here: the
APIs' own (`web.errors`, with their status) and the domain's and staff accounts', whose stable codes map to
statuses in tables.

Body: {"error": {"code": ..., "message": ..., "field": ...}} plus any machine-readable extras the
error carries (`sku_id` for OUT_OF_STOCK, `wechat_errcode` for LOGIN_REFUSED ...). Validation
errors are 422 INVALID_INPUT naming the first offending field, like the commerce core's own.
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
from starlette.exceptions import HTTPException
from starlette.types import Message

from commerce.errors import CommerceError
from foundation.errors import ChatshopError
from web.bodies import BodyOverLimit, read_limited
from web.errors import ApiError, BodyTooLarge, PaymentUnavailable, UnstorableText
from wechat.errors import PayError

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
        (401, "missing, unknown, expired or revoked token (or API key)"),
        (404, "no such product, SKU or order (another customer's order included)"),
        (409, "conflict with the current state: OUT_OF_STOCK (names sku_id), EMPTY_CART, ILLEGAL_TRANSITION"),
        (413, "request body too large"),
        (422, "INVALID_INPUT; `field` names the offending field"),
        (503, "WeChat or WeChat Pay did not answer; retry"),
    )
}


# The commerce core's refusals: a broken rule is 422, a missing thing 404, a clash with the current state 409.
COMMERCE_STATUS = {
    "INVALID_INPUT": 422,
    "NOT_FOUND": 404,
    "OUT_OF_STOCK": 409,
    "EMPTY_CART": 409,
    "ILLEGAL_TRANSITION": 409,
    "REFUND_REFUSED": 409,
}


# The staff API's refusals (`staff.errors`, and the bot's it calls: matched by code, web imports neither):
# not signed in 401, role or CSRF 403, not there (or not theirs to see) 404, a clash with the current state
# 409, throttled logins 429 (with a Retry-After header).
STAFF_STATUS = {
    "INVALID_INPUT": 422,
    "NOT_SIGNED_IN": 401,
    "BAD_CREDENTIALS": 401,
    "FORBIDDEN": 403,
    "CSRF_REFUSED": 403,
    "STAFF_NOT_FOUND": 404,
    "STAFF_EXISTS": 409,
    "LOGIN_THROTTLED": 429,
    # Conversations with a person (`bot.handoff.errors`) and customer tags (`bot.customers.errors`).
    "ILLEGAL_TRANSITION": 409,
    "CONVERSATION_NOT_FOUND": 404,
    "NOT_YOUR_CONVERSATION": 409,
    "AGENT_UNAVAILABLE": 409,
    "REPLY_REFUSED": 409,
    "UNKNOWN_GROUP": 422,
    "UNKNOWN_CUSTOMER": 404,
    "INVALID_TAG": 422,
    "INVALID_TAG_EXPRESSION": 422,
    "CANNED_REPLY_NOT_FOUND": 404,
    "CANNED_REPLY_EXISTS": 409,
    # Outreach (`bot.outreach.errors`): consents, templates and campaigns; the mini-program's too.
    "INVALID_CONSENT": 422,
    "UNKNOWN_TEMPLATE": 422,
    "INVALID_TEMPLATE_DATA": 422,
    "INVALID_CAMPAIGN": 422,
    "CAMPAIGN_NOT_FOUND": 404,
    "CAMPAIGN_STATE": 409,
}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   extra: dict[str, object] | None = None) -> JSONResponse:
    detail = {"code": code, "message": message, "field": field} | (extra or {})
    response = JSONResponse({"error": detail}, status_code=status)
    if status == 429 and isinstance(detail.get("retry_after"), int):
        response.headers["Retry-After"] = str(detail["retry_after"])
    return response


def validation_response(errors: Sequence[Any]) -> JSONResponse:
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    field = _field_name(first)
    return error_response(422, "INVALID_INPUT", f"{field}: {first['msg']}", field)


def _field_name(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid" or len(loc) <= 1:
        return loc[0] if loc else "body"  # the body as a whole is not JSON, or is missing
    return ".".join(loc[1:])  # drop "body" / "query" / "path"


def refusal_response(exc: Exception) -> JSONResponse | None:
    """The response for a known refusal; None for anything else (a bug: it propagates as a 500)."""
    if isinstance(exc, RequestValidationError):
        return validation_response(exc.errors())
    if isinstance(exc, HTTPException) and exc.status_code == 400:
        # FastAPI's own refusal of a body it could not read as JSON (bytes that are not UTF-8): told like a body
        # that is not JSON, in the APIs' error shape.
        return error_response(422, "INVALID_INPUT", "body: not JSON text (UTF-8)", "body")
    if isinstance(exc, ApiError):
        log.info("refused: %s (%s)", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.details())
    if isinstance(exc, CommerceError):
        log.info("refused: %s (%s)", exc.code, exc.message)
        status = COMMERCE_STATUS.get(exc.code, 400)
        return error_response(status, exc.code, exc.message, getattr(exc, "field", None), exc.details())
    if isinstance(exc, ChatshopError) and exc.code in STAFF_STATUS:
        log.info("refused: %s (%s)", exc.code, exc.message)
        return error_response(STAFF_STATUS[exc.code], exc.code, exc.message, getattr(exc, "field", None), exc.details())
    if isinstance(exc, PayError):
        log.warning("WeChat Pay failed: %s", exc)
        return refusal_response(PaymentUnavailable(f"WeChat Pay did not answer ({exc.code}); try again"))
    return None


class JsonApiRoute(APIRoute):
    """A route whose refusals are all mapped here, with a limit on the request body's size; a parameter or JSON
    body holding a NUL character is refused before the handler (422)."""

    max_body_bytes = 16384

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        limit = self.max_body_bytes

        async def guarded(request: Request) -> Response:
            try:
                return await handler(await _with_bounded_body(request, limit))
            except Exception as exc:
                response = refusal_response(exc)
                if response is None:
                    raise
                return response

        return guarded


def bounded_route(max_body_bytes: int) -> type[JsonApiRoute]:
    """The route class for one router, with its own body limit."""
    return type("BoundedJsonApiRoute", (JsonApiRoute,), {"max_body_bytes": max_body_bytes})


def _refuse_nul(parameters: list[tuple[str, Any]]) -> None:
    for name, value in parameters:
        if "\x00" in name or "\x00" in str(value):
            raise UnstorableText(f"{name}: text cannot hold the NUL character (%00)", field=name.replace("\x00", ""))


def _json_with_nul(content_type: str, body: bytes) -> bool:
    if "json" in content_type:
        return b"\\u0000" in body or b"\x00" in body
    # Without a type FastAPI still reads JSON for a body model; but it may be a file upload, which can hold any
    # byte (hardly that escape, though).
    return not content_type and b"\\u0000" in body


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refused unread past `limit` bytes (the webhook's reader: Content-Length
    first, then as it streams)."""
    try:
        return await read_limited(request, limit)
    except BodyOverLimit:
        raise BodyTooLarge(f"request body over {limit} bytes") from None


async def _with_bounded_body(request: Request, limit: int) -> Request:
    _refuse_nul(request.query_params.multi_items() + list(request.path_params.items()))
    if request.method in ("GET", "HEAD", "DELETE"):
        return request
    body = await read_bounded(request, limit)
    if _json_with_nul(request.headers.get("content-type", ""), body):
        raise UnstorableText("body: text cannot hold the NUL character (\\u0000)", field="body")
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)
