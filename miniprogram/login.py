"""The mini-program's login: a wx.login() code is exchanged with WeChat (jscode2session), and WeChat's
refusals become the API's (the login itself is recorded by `bot.customers.logins`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from miniprogram.errors import LoginRefused, WeChatUnavailable
from wechat.errors import WeChatApiError
from wechat.login import CodeSession

log = logging.getLogger(__name__)

# WeChat's answers to a bad login code, with the status we give the mini-program.
_REFUSED_CODES: dict[int, tuple[int, str]] = {
    40029: (401, "the login code is invalid or was already used (codes are single-use)"),
    40163: (401, "the login code was already used"),
    40226: (403, "WeChat flagged this user as high-risk"),
    45011: (429, "too many logins; try again in a minute"),
}


CodeExchange = Callable[[str], CodeSession]


def exchange_code(call: CodeExchange, code: str) -> CodeSession:
    """Turn a login code into WeChat's session, mapping WeChat's refusals to ours."""
    try:
        return call(code)
    except WeChatApiError as exc:
        raise _refusal(exc) from None


def _refusal(exc: WeChatApiError) -> Exception:
    known = _REFUSED_CODES.get(exc.errcode)
    if known is None:
        log.warning("jscode2session failed: errcode %s", exc.errcode)
        return WeChatUnavailable(f"WeChat login is unavailable (errcode {exc.errcode})")
    status, reason = known
    log.info("login code refused by WeChat: errcode %s", exc.errcode)
    return LoginRefused(f"WeChat refused the login (errcode {exc.errcode}): {reason}", errcode=exc.errcode,
                        status=status)
