"""The HTTP API's own refusals, each with a stable `code` and the status it answers with.

Domain refusals come from `commerce.errors`; both are turned into responses in one place
(`miniprogram.http_errors`).
"""

from __future__ import annotations


class ApiError(Exception):
    code = "API_ERROR"
    status = 400
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field

    def extra(self) -> dict[str, object]:
        """More members for the error body (e.g. WeChat's errcode)."""
        return {}


class Unauthorized(ApiError):
    """No token, an unknown, expired or revoked one."""

    code = "UNAUTHORIZED"
    status = 401


class LoginRefused(ApiError):
    """WeChat refused the login code (used, expired, invalid, or a high-risk user)."""

    code = "LOGIN_REFUSED"
    status = 401
    field = "code"

    def __init__(self, message: str, *, errcode: int, status: int = 401) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.status = status

    def extra(self) -> dict[str, object]:
        return {"wechat_errcode": self.errcode}


class WeChatUnavailable(ApiError):
    """WeChat could not be reached or answered with an error that is not the customer's."""

    code = "WECHAT_UNAVAILABLE"
    status = 502


class AdminDisabled(ApiError):
    code = "ADMIN_DISABLED"
    status = 503


class PaymentUnavailable(ApiError):
    """WeChat Pay gave no usable answer (or is not configured); the request can be retried."""

    code = "PAYMENT_UNAVAILABLE"
    status = 503

    def __init__(self, message: str, *, order_no: str | None = None) -> None:
        super().__init__(message)
        self.order_no = order_no

    def extra(self) -> dict[str, object]:
        return {"order_no": self.order_no} if self.order_no else {}


class BodyTooLarge(ApiError):
    code = "BODY_TOO_LARGE"
    status = 413
    field = "body"
