"""Typed settings the conversation layer needs; the composition root builds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from bot.models import WindowAction


@dataclass(frozen=True)
class WindowRule:
    seconds: int
    quota: int | None  # None: unlimited


@dataclass(frozen=True)
class MessengerConfig:
    """WeChat's rules and the retry policy, as settings give them (messenger.*, whose defaults are
    WeChat's documented values)."""

    windows: Mapping[WindowAction, WindowRule]
    typing_exchange_s: int  # "Typing" needs an exchange with the customer this recent
    typing_lasts_s: int  # and shows this long
    max_attempts: int
    retry_backoff_s: float
    outbox_poll_s: float
    request_timeout_s: float
    # A new row waits this long before the outbox sweeper may take it, so the request that wrote
    # it sends it first (after its passive reply has gone out, which keeps the order right).
    outbox_grace_s: float = 10.0


@dataclass(frozen=True)
class WebhookConfig:
    max_clock_skew_s: int = 300
    reply_budget_ms: int = 4000
    max_body_bytes: int = 65536


# WeChat retries a push only when it got no answer within its 5 s deadline, and the webhook answers
# (the reply, or `success` with the reply to follow) within the reply budget. A retry that finds the
# message still in hand this long after the budget means the delivery that claimed it died or stalled.
# (A slow turn that did answer `success` is retried only if WeChat lost that answer; then one of the
# two turns stores its reply and the other's is dropped.)
CLAIM_LEASE_MARGIN_MS = 2000


def lease_for_budget(reply_budget_ms: int) -> timedelta:
    """How long a claimed message stays its claimant's before a retry of the push may take it over."""
    return timedelta(milliseconds=reply_budget_ms + CLAIM_LEASE_MARGIN_MS)


@dataclass(frozen=True)
class DialogueConfig:
    welcome: str
    mp_welcome: str
    menu_head: str
    menu_tail: str
    menu_size: int
    fallback: str
