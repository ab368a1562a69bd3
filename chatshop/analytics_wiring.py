"""Wires the numbers: the mini-program's view tracker (queued on the group-commit writer) and the roll-up
job on the one job runner, from the `analytics` settings and the store's zone (routing.timezone)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.analytics.rollup import roll_up_recent
from bot.analytics.tracking import ProductView, record_product_view
from chatshop.settings import Settings
from scheduler.runner import Job
from storage.clock import utcnow
from storage.group_commit import GroupCommitWriter


def view_tracker(settings: Settings, writer: GroupCommitWriter) -> Callable[[ProductView], None] | None:
    """What the product route calls: the write is queued, never waited for (a lost view is no refusal)."""
    if not settings.analytics.track:
        return None

    def track(view: ProductView) -> None:
        writer.submit_unawaited(lambda connection: record_product_view(connection, view), what="product view")

    return track


def analytics_jobs(settings: Settings, factory: sessionmaker[Session]) -> list[Job]:
    """Today's roll-up every rollup_interval_s (with the recheck days and any day missed), in one process
    at a time (the runner's leases); none where scheduler.enabled is false."""
    if not settings.scheduler.enabled:
        return []
    a = settings.analytics
    zone = ZoneInfo(settings.routing.timezone)

    def roll_up() -> int:
        return roll_up_recent(factory, zone=zone, now=utcnow(), recheck_days=a.recheck_days,
                              window=timedelta(days=a.attribution_days))

    return [Job("analytics_rollup", roll_up, a.rollup_interval_s)]
