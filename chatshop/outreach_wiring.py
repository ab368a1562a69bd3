"""Builds outreach from settings: the template registry (a watched file), the subscribe sender, order
notices, cart reminders and the campaign sender, and their scheduler jobs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from bot.actions.products import product_card
from bot.cards.resolver import CardResolver
from bot.messenger import Messenger
from bot.models import Channel
from bot.outgoing import Outgoing
from bot.outreach.campaigns import CampaignSender
from bot.outreach.errors import TemplatesError
from bot.outreach.inbound import OutreachInbound
from bot.outreach.notices import NoticeConfig, OrderNotices
from bot.outreach.reminders import CartReminders, ReminderConfig, parse_quiet_hours
from bot.outreach.sender import SenderConfig, SubscribeSender, claim_lease_s
from bot.outreach.templates import TemplateRegistry, load_templates
from chatshop.settings import Settings
from commerce.catalog import get_product
from foundation.watched_file import WatchedFile
from scheduler.runner import Job
from wechat.client import WeChatClient

EXPIRING_CHECK_INTERVAL_S = 60.0


@dataclass
class Outreach:
    templates: WatchedFile[TemplateRegistry]
    sender: SubscribeSender
    notices: OrderNotices
    reminders: CartReminders
    campaigns: CampaignSender
    inbound: OutreachInbound

    def registry(self) -> TemplateRegistry:
        return self.templates.current()


def template_source(settings: Settings) -> WatchedFile[TemplateRegistry]:
    return WatchedFile(settings.outreach.templates_path, load=load_templates, empty=TemplateRegistry(),
                       errors=TemplatesError, what="subscribe templates")


def build_outreach(settings: Settings, factory: sessionmaker[Session], messenger: Messenger,
                   apis: dict[Channel, WeChatClient], cards: CardResolver) -> Outreach:
    templates = template_source(settings)
    o = settings.outreach
    sender = SubscribeSender(
        factory=factory, apis=apis, templates=templates.current,
        config=SenderConfig(max_attempts=settings.messenger.max_attempts,
                            lease_s=claim_lease_s(settings.wechat.request_timeout_s),
                            miniprogram_state=o.miniprogram_state, mp_app_id=settings.miniprogram.app_id),
    )
    notices = OrderNotices(factory=factory, sender=sender, messenger=messenger, templates=templates.current,
                           config=NoticeConfig(timezone=o.timezone, expiring_warning_s=o.expiring_warning_s))

    def reminder_card(product_id: str, channel: Channel, reminder_id: int) -> Outgoing:
        with factory() as session:
            card = product_card(get_product(session, product_id), settings.miniprogram.app_id, fallback="")
        card["pagepath"] = card["pagepath"].replace("src=card", f"src=cart_reminder&r={reminder_id}")
        return cards.resolve(card, channel)

    r = settings.reminders
    reminders = CartReminders(
        factory=factory, sender=sender, messenger=messenger, templates=templates.current, compose_card=reminder_card,
        config=ReminderConfig(cart_delay_s=r.cart_delay, max_per_week=r.max_per_week,
                              quiet_hours=parse_quiet_hours(r.quiet_hours), holdout_pct=r.holdout_pct,
                              low_stock=r.low_stock, lookback_days=r.lookback_days, timezone=o.timezone))
    campaigns = CampaignSender(factory=factory, sender=sender, registry=templates.current, batch=o.campaign_batch,
                               workers=o.campaign_workers)
    return Outreach(templates, sender, notices, reminders, campaigns,
                    OutreachInbound(factory=factory, templates=templates.current))


def outreach_jobs(outreach: Outreach | None, settings: Settings) -> list[Job]:
    """Notices as soon as the outbox has their events, the subscribe outbox's sweep, unpaid orders about to
    close, cart reminders and campaigns; each in one process at a time (the runner's leases). None where
    scheduler.enabled is false: such a process serves requests only (a `chatshop campaign send` elsewhere,
    or another server, sends)."""
    if outreach is None or not settings.scheduler.enabled:
        return []
    o, poll = settings.outreach, settings.messenger.outbox_poll_s
    return [
        Job("order_notices", outreach.notices.consume, o.notice_interval_s, report=False),
        Job("subscribe_sweep", outreach.sender.sweep, poll, report=False),
        Job("expiring_order_notices", outreach.notices.warn_expiring, EXPIRING_CHECK_INTERVAL_S),
        Job("cart_reminders", outreach.reminders.run, settings.reminders.interval_s),
        Job("campaigns", partial(outreach.campaigns.run_due, o.campaign_interval_s * 2), o.campaign_interval_s),
    ]
