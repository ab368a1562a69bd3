"""Commerce wiring: typed config for the commerce core, and the one job runner, from settings."""

from __future__ import annotations

from bot.handoff.config import HandoffMode
from bot.models import Channel
from chatshop.accounts import window_rules
from chatshop.analytics_wiring import analytics_jobs
from chatshop.outreach_wiring import outreach_jobs
from chatshop.services import Services
from chatshop.settings import Settings
from commerce.config import OrdersConfig
from scheduler.config import SchedulerConfig
from scheduler.jobs import CommerceJobs, conversation_jobs, handoff_jobs, tag_jobs
from scheduler.leases import JobLeases
from scheduler.runner import JobRunner


def orders_config(settings: Settings) -> OrdersConfig:
    o = settings.orders
    return OrdersConfig(
        order_ttl_s=settings.pay.order_ttl_s,
        max_quantity=o.max_quantity,
        max_cart_lines=o.max_cart_lines,
        auto_deliver_days=o.auto_deliver_days,
        auto_complete_days=o.auto_complete_days,
    )


def scheduler_config(settings: Settings) -> SchedulerConfig:
    s, o = settings.scheduler, settings.orders
    return SchedulerConfig(
        enabled=s.enabled,
        expire_interval_s=s.expire_interval_s,
        reconcile_interval_s=s.reconcile_interval_s,
        reconcile_after_s=s.reconcile_after_s,
        refund_retry_interval_s=s.refund_retry_interval_s,
        advance_interval_s=s.advance_interval_s,
        lease_ttl_s=s.lease_ttl_s,
        auto_deliver_days=o.auto_deliver_days,
        auto_complete_days=o.auto_complete_days,
    )


def build_job_runner(settings: Settings, services: Services) -> JobRunner:
    """The one scheduler for the app's lifespan (the pay jobs idle when WeChat Pay is not configured)."""
    schedule = scheduler_config(settings)
    commerce = CommerceJobs(factory=services.factory, pay=services.pay, config=schedule)
    conversations = conversation_jobs(services.messenger, services.conversations, factory=services.factory,
                                      windows=window_rules(settings.messenger), poll_s=settings.messenger.outbox_poll_s)
    oa = services.apis.get(Channel.OA) if settings.wechat.app_id else None
    tags = tag_jobs(services.tags, factory=services.factory, oa_tags=oa.tags if oa else None,
                    poll_s=settings.messenger.outbox_poll_s, sync_interval_s=settings.tags.sync_interval_s,
                    config=schedule)
    handoff = handoff_jobs(services.handoff, factory=services.factory, interval_s=settings.handoff.check_interval_s,
                           mode_is_queue=settings.handoff.mode is HandoffMode.QUEUE)
    leases = JobLeases(services.factory, ttl_s=schedule.lease_ttl_s)  # each job in one process at a time
    outreach = outreach_jobs(services.outreach, settings)
    analytics = analytics_jobs(settings, services.factory)
    return JobRunner(conversations + commerce.schedule() + tags + handoff + outreach + analytics, leases=leases)
