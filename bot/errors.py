"""The conversation layer's errors, each with a stable `code` transports can map."""

from __future__ import annotations

from foundation.errors import ChatshopError


class BotError(ChatshopError):
    """The conversation layer refused or failed; nothing was changed."""

    code = "BOT_ERROR"


class SendRefused(BotError):
    """The messenger refused a message WeChat would refuse, before calling WeChat."""

    code = "SEND_REFUSED"

    def __init__(self, errcode: int, reason: str) -> None:
        super().__init__(reason, wechat_errcode=errcode)
        self.errcode, self.reason = errcode, reason


class OutsideReplyWindow(SendRefused):
    code = "OUTSIDE_REPLY_WINDOW"

    def __init__(self) -> None:
        super().__init__(45015, "the customer's reply window is closed")


class QuotaExhausted(SendRefused):
    code = "QUOTA_EXHAUSTED"

    def __init__(self) -> None:
        super().__init__(45047, "the customer's reply quota is used up")


class UnsupportedMessage(SendRefused):
    code = "UNSUPPORTED_MESSAGE"

    def __init__(self, reason: str, errcode: int = 40008) -> None:
        super().__init__(errcode, reason)


# Invalid message type, too many articles, empty content.
UNSUPPORTED_ERRCODES = frozenset({40008, 45008, 44003})


def refusal_for(errcode: int, reason: str) -> SendRefused:
    """The typed refusal for a WeChat errcode recorded on a message."""
    if errcode == 45015:
        return OutsideReplyWindow()
    if errcode == 45047:
        return QuotaExhausted()
    if errcode in UNSUPPORTED_ERRCODES:
        return UnsupportedMessage(reason, errcode)
    return SendRefused(errcode, reason)
