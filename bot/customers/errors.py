"""Refusals of the customers package: logins, tags, tag expressions and tag rules."""

from __future__ import annotations

from bot.errors import BotError


class NotLoggedIn(BotError):
    """The bearer token is unknown, expired or revoked; the customer must log in again."""

    code = "NOT_LOGGED_IN"


class InvalidTag(BotError):
    """A tag WeChat could not carry: an empty name, or one longer than 30 bytes."""

    code = "INVALID_TAG"


class UnknownCustomer(BotError):
    """No customer has this id."""

    code = "UNKNOWN_CUSTOMER"


class TagExpressionError(BotError):
    """A tag expression that does not parse; `position` is the 0-based character where it fails."""

    code = "INVALID_TAG_EXPRESSION"

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(f"{message} at position {position}", position=position)
        self.position = position


class TagRulesError(BotError):
    """A tag rules file that cannot be used; `problems` are its lines, each `FILE:LINE: what`."""

    code = "INVALID_TAG_RULES"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems), problems=problems)
        self.problems = problems
