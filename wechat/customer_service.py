"""Customer-service messages and the typing indicator (cgi-bin/message/custom/...).

The payload is WeChat's own JSON ({"touser", "msgtype", ...}); which kinds a channel may send, and
the reply window and quota, are the messenger's rules (bot/), checked before this is called.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from .api_group import ApiGroup


class TypingCommand(StrEnum):
    TYPING = "Typing"
    CANCEL = "CancelTyping"


class CustomerServiceApi(ApiGroup):
    def send(self, payload: dict[str, Any]) -> None:
        self._post("message/custom/send", payload)

    def typing(self, openid: str, command: TypingCommand = TypingCommand.TYPING) -> None:
        self._post("message/custom/typing", {"touser": openid, "command": str(command)})
