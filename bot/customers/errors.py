"""Refusals of the customers package."""

from __future__ import annotations

from bot.errors import BotError


class NotLoggedIn(BotError):
    """The bearer token is unknown, expired or revoked; the customer must log in again."""

    code = "NOT_LOGGED_IN"
