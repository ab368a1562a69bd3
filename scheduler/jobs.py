"""Every periodic task, as jobs for the runner: the commerce core's (expiry, reconciliation, refunds,
order ageing), the conversations' (the outbox sweep, dedupe pruning), the customer tags' (the
rules of commerce events, the sync to WeChat's user tags) and the handoff's timeouts. Each runs in one
process at a time, the one holding its lease (scheduler/leases.py).

The commerce jobs are plain methods taking the current time, so tests run one with a moved clock
instead of sleeping; the scheduler calls them with the real time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from bot.config import WindowRule
from bot.conversation import Conversations
from bot.customers.tag_sync import sync_wechat_tags
from bot.customers.tag_triggers import TagTriggers
from bot.handoff.desk import HandoffDesk
from bot.live import prune_events
from bot.messenger import Messenger
from bot.models import WindowAction
from bot.payments import open_payment_windows
from commerce.orders import advance_due_orders
from commerce.payments import expire_unpaid_orders, reconcile_pending
from commerce.refunds import submit_pending_refunds
from storage.clock import utcnow
from storage.db import transaction
from wechat.pay import WeChatPay
from wechat.tags import TagsApi

from .config import SchedulerConfig
from .runner import Job

log = logging.getLogger(__name__)


@dataclass
class CommerceJobs:
    factory: sessionmaker[Session]
    pay: WeChatPay | None  # None when WeChat Pay is not configured: only never-prepaid orders expire
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    clock: Callable[[], datetime] = utcnow

    def expire_orders(self, now: datetime | None = None) -> int:
        # Runs without WeChat Pay too: orders never prepaid must still give their stock back.
        return expire_unpaid_orders(self.factory, pay=self.pay, now=now or self.clock())

    def reconcile(self, now: datetime | None = None) -> int:
        if self.pay is None:
            return 0
        return reconcile_pending(self.factory, pay=self.pay, now=now or self.clock(),
                                 older_than_s=self.config.reconcile_after_s)

    def submit_refunds(self, now: datetime | None = None) -> int:
        if self.pay is None:
            return 0
        return submit_pending_refunds(self.factory, pay=self.pay, now=now or self.clock())

    def advance_orders(self, now: datetime | None = None) -> int:
        return advance_due_orders(self.factory, now=now or self.clock(),
                                  deliver_after_days=self.config.auto_deliver_days,
                                  complete_after_days=self.config.auto_complete_days)

    def schedule(self) -> list[Job]:
        """Every commerce job on its interval; none when the scheduler is disabled in this process."""
        c = self.config
        if not c.enabled:
            return []
        return [
            Job("expire_unpaid_orders", self.expire_orders, c.expire_interval_s),
            Job("reconcile_payments", self.reconcile, c.reconcile_interval_s),
            Job("submit_refunds", self.submit_refunds, c.refund_retry_interval_s),
            Job("advance_orders", self.advance_orders, c.advance_interval_s),
        ]


def conversation_jobs(
    messenger: Messenger, conversations: Conversations, *, factory: sessionmaker[Session],
    windows: Mapping[WindowAction, WindowRule], poll_s: float,
) -> list[Job]:
    """The messenger's outbox sweep (retries, and messages a dead process never sent), the pruning of
    dedupe records, and the reply windows payments open; every process that serves webhooks schedules
    them, whatever scheduler.enabled says, and the one holding each job's lease runs it."""
    return [
        Job("outbox_sweep", messenger.sweep, poll_s, report=False),
        Job("forget_old_deliveries", conversations.forget_old_deliveries, poll_s, report=False),
        Job("payment_windows", partial(open_payment_windows, factory, rules=windows), poll_s, report=False),
    ]


def tag_jobs(
    tags: TagTriggers | None, *, factory: sessionmaker[Session], oa_tags: TagsApi | None, poll_s: float,
    sync_interval_s: float, config: SchedulerConfig,
) -> list[Job]:
    """The tag rules of order_paid and refund_requested events, as soon as the outbox has them (scheduled
    in every process, like the payment windows), and the sync of tags to the Official Account's user tags
    (with an Official Account, where scheduler.enabled)."""
    if tags is None:
        return []
    jobs = [Job("tag_rules_of_orders", partial(tags.consume_commerce_events, factory), poll_s, report=False)]
    if oa_tags is not None and config.enabled:
        jobs.append(Job("sync_wechat_tags", partial(sync_wechat_tags, factory, oa_tags), sync_interval_s))
    return jobs


def handoff_jobs(desk: HandoffDesk | None, *, factory: sessionmaker[Session], interval_s: float,
                 mode_is_queue: bool) -> list[Job]:
    """The handoff timeouts (told again, reminded, re-queued, resolved) and the assignment of what waits
    for a group that just opened (safe in every process: each change is a conditional update), and the
    pruning of the console's live updates older than a week."""
    if desk is None or not mode_is_queue:
        return []
    return [Job("handoff_timeouts", lambda: sum(desk.check_timeouts().values()), interval_s),
            Job("prune_console_events", partial(prune_console_events, factory), CONSOLE_PRUNE_INTERVAL_S)]


CONSOLE_EVENTS_KEPT = timedelta(days=7)
CONSOLE_PRUNE_INTERVAL_S = 3600.0


def prune_console_events(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return prune_events(session, before=utcnow() - CONSOLE_EVENTS_KEPT)
