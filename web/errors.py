"""The JSON APIs' own refusals (not the domain's): each with a stable `code` and the HTTP status it
answers with. Domain refusals are mapped to responses in `web.json_api`."""

from __future__ import annotations

from foundation.errors import ChatshopError


class ApiError(ChatshopError):
    """The request was refused by the API itself (not by the domain behind it)."""

    code = "API_ERROR"
    status = 400
    field: str | None = None  # the request member at fault, when one is

    def __init__(self, message: str, *, field: str | None = None, **details: object) -> None:
        super().__init__(message, **details)
        if field is not None:
            self.field = field


class Unauthorized(ApiError):
    """No token, an unknown, expired or revoked one."""

    code = "UNAUTHORIZED"
    status = 401


class PaymentUnavailable(ApiError):
    """WeChat Pay gave no usable answer (or is not configured); the request can be retried."""

    code = "PAYMENT_UNAVAILABLE"
    status = 503

    def __init__(self, message: str, *, order_no: str | None = None) -> None:
        super().__init__(message, order_no=order_no or None)
        self.order_no = order_no


class UnstorableText(ApiError):
    """A NUL character (U+0000) in a parameter or a JSON body: PostgreSQL text cannot hold one, so it is refused
    before any work, on every database alike."""

    code = "INVALID_INPUT"
    status = 422


class BodyTooLarge(ApiError):
    code = "BODY_TOO_LARGE"
    status = 413
    field = "body"
