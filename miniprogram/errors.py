"""The mini-program API's own refusals: WeChat's answers to a login."""

from __future__ import annotations

from web.errors import ApiError


class LoginRefused(ApiError):
    """WeChat refused the login code (used, expired, invalid, or a high-risk user)."""

    code = "LOGIN_REFUSED"
    status = 401
    field = "code"

    def __init__(self, message: str, *, errcode: int, status: int = 401) -> None:
        super().__init__(message, wechat_errcode=errcode)
        self.errcode, self.status = errcode, status


class WeChatUnavailable(ApiError):
    """WeChat could not be reached or answered with an error that is not the customer's."""

    code = "WECHAT_UNAVAILABLE"
    status = 502
