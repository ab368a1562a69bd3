"""The HTTP API's own refusals, each with a stable `code` and the status it answers with.

Domain refusals come from `commerce.errors`; both are turned into responses in one place
(`miniprogram.http_errors`).
"""

from __future__ import annotations


class ApiError(Exception):
    code = "api_error"
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

    code = "unauthorized"
    status = 401


class LoginRefused(ApiError):
    """WeChat refused the login code (used, expired, invalid, or a high-risk user)."""

    code = "login_refused"
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

    code = "wechat_unavailable"
    status = 502


class AdminDisabled(ApiError):
    code = "admin_disabled"
    status = 503


class PaymentUnavailable(ApiError):
    """The order is placed but WeChat Pay could not prepare the payment; paying can be retried."""

    code = "payment_unavailable"
    status = 502
