"""Mini-program login: a wx.login() code becomes the customer's openid (sns/jscode2session).

A code is single-use (40029); session_key never leaves the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .api_group import ApiGroup
from .errors import WeChatApiError

# Our errcode for an answer without the fields WeChat documents; WeChat never sends it.
INCOMPLETE_ANSWER_ERRCODE = -4


@dataclass(frozen=True)
class CodeSession:
    """What jscode2session gives for one login code."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


class LoginApi(ApiGroup):
    def code_to_session(self, js_code: str) -> CodeSession:
        answer: dict[str, Any] = self._call(lambda: self._client.wxa.code_to_session(js_code))
        openid, session_key = answer.get("openid"), answer.get("session_key")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str):
            raise WeChatApiError(INCOMPLETE_ANSWER_ERRCODE, "the login answer has no openid or session_key")
        unionid = answer.get("unionid")
        return CodeSession(openid, session_key, unionid if isinstance(unionid, str) and unionid else None)
