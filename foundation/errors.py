"""The one error shape: every package's errors derive from `ChatshopError` through a base of their
own (CommerceError, WeChatError, BotError, IntentsError, ApiError).

An error is a refusal or a failure with a stable `code` callers branch on, a human `message`, and
machine-readable `details()`; raising it changed nothing. What a refusal means to a transport (an HTTP
status, a webhook's `success`, a CLI's exit status) is decided by that transport, in one place.
"""

from __future__ import annotations


class ChatshopError(Exception):
    code = "ERROR"

    def __init__(self, message: str = "", **details: object) -> None:
        # With no message of its own, an error says what its class's docstring says.
        super().__init__(message or _first_line(type(self).__doc__) or self.code)
        self._details = {name: value for name, value in details.items() if value is not None}

    @property
    def message(self) -> str:
        return str(self)

    def details(self) -> dict[str, object]:
        """Machine-readable extras for a response body or a log line (beyond code and message)."""
        return dict(self._details)


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""
