"""Refusals of routing and handoff, each with a stable code (`web.json_api` maps them to statuses)."""

from __future__ import annotations

from datetime import datetime

from bot.errors import BotError


class HandoffError(BotError):
    """A handoff operation was refused; nothing changed."""

    code = "HANDOFF_ERROR"


class HandoffNotFound(HandoffError):
    """No such conversation, or one the staff member may not see (which of the two is not said)."""

    code = "CONVERSATION_NOT_FOUND"


class NotYourConversation(HandoffError):
    """The conversation is another agent's (or nobody's yet): claim it, or ask a supervisor."""

    code = "NOT_YOUR_CONVERSATION"


class IllegalHandoffMove(HandoffError):
    """The conversation's state does not allow this (e.g. replying to a resolved one)."""

    code = "ILLEGAL_TRANSITION"


class UnknownGroup(HandoffError):
    """A skill group routing does not know."""

    code = "UNKNOWN_GROUP"


class AgentUnavailable(HandoffError):
    """The agent is not online in that group, or holds as many conversations as they may."""

    code = "AGENT_UNAVAILABLE"


class InvalidHandoffInput(HandoffError):
    """A value breaks a rule (an empty note, an over-long reply); `field` names it."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ReplyRefused(HandoffError):
    """WeChat would refuse this reply (window closed, quota spent, a kind the channel cannot take):
    refused before any call, with WeChat's code and when the window closed."""

    code = "REPLY_REFUSED"

    def __init__(self, message: str, *, wechat_errcode: int, window_closed_at: datetime | None) -> None:
        super().__init__(message, wechat_errcode=wechat_errcode,
                         window_closed_at=window_closed_at.isoformat() if window_closed_at else None)
        self.wechat_errcode, self.window_closed_at = wechat_errcode, window_closed_at
