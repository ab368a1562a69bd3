"""Campaigns: a subscribe message to an audience of tagged customers, scheduled by marketing staff.

A campaign is written as a draft, scheduled, and at its time planned: one recipient row per customer
of the audience, written by one INSERT … SELECT in the transaction that moves it to `sending`, each
row either `pending` or `skipped` with its reason (holdout, opted out, no credit). The sender then
claims pending rows in batches, with their credits, before WeChat is called (sender.py), so a sender
killed at any moment and started again sends each recipient at most once, and pause and resume keep
the place: the rows are the place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, case, exists, func, literal, not_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.errors import TagExpressionError
from bot.customers.tag_expressions import parse_tag_expression, tag_condition
from bot.models import Customer
from bot.outreach.errors import CampaignNotFound, CampaignStateError, InvalidCampaign, OutreachError
from bot.outreach.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignEvent,
    CampaignState,
    OptOut,
    PageOpen,
    SendState,
    Source,
    SubscribeCredit,
    SubscribeMessage,
)
from bot.outreach.sender import Outcome, SubscribeSender, pace
from bot.outreach.templates import Purpose, TemplateRegistry
from commerce.models import Order
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import affected_rows

log = logging.getLogger(__name__)

MAX_THROTTLE_PER_S = 10_000
ATTRIBUTION_WINDOW = timedelta(days=7)

# Why a recipient is skipped at planning (subscribe_messages.reason).
SKIP_HOLDOUT = "holdout"
SKIP_OPTED_OUT = "opted out"
SKIP_NO_CREDIT = "no credit"
SKIP_CANCELLED = "cancelled"


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    audience: str
    template_id: str
    data: dict[str, str]
    scheduled_at: datetime | None = None
    throttle_per_s: int = 0
    holdout_pct: int = 0


@dataclass(frozen=True)
class AudienceCount:
    total: int  # customers the expression selects on the template's channel
    with_credit: int  # of those, with a credit for the template (who would be sent to)
    without_credit: int
    opted_out: int


# ----- writing and moving campaigns ---------------------------------------------------------


def check_draft(draft: CampaignDraft, registry: TemplateRegistry) -> dict[str, str]:
    """The draft's data as the template takes it; InvalidCampaign naming what is wrong."""
    if not draft.name.strip() or len(draft.name) > 60:
        raise InvalidCampaign("a name of 1-60 characters is needed", field="name")
    try:
        parse_tag_expression(draft.audience)
    except TagExpressionError as exc:
        raise InvalidCampaign(f"audience: {exc.message}", field="audience", position=exc.position) from None
    if not 0 <= draft.throttle_per_s <= MAX_THROTTLE_PER_S:
        raise InvalidCampaign(f"throttle must be 0 (no limit) to {MAX_THROTTLE_PER_S} a second", field="throttle")
    if not 0 <= draft.holdout_pct <= 50:
        raise InvalidCampaign("holdout must be 0-50 %", field="holdout")
    try:
        template = registry.get(draft.template_id)
        if template.purpose is not Purpose.MARKETING:
            raise InvalidCampaign(f"template {template.id} is for {template.purpose}, not marketing",
                                  field="template_id")
        return template.check(draft.data)
    except OutreachError as exc:
        if isinstance(exc, InvalidCampaign):
            raise
        raise InvalidCampaign(exc.message, field=exc.details().get("field", "template_id")) from None


def create_campaign(session: Session, *, draft: CampaignDraft, by: str, registry: TemplateRegistry,
                    now: datetime) -> Campaign:
    data = check_draft(draft, registry)
    campaign = Campaign(name=draft.name.strip(), audience=draft.audience.strip(), template_id=draft.template_id,
                        data=data, page="", scheduled_at=draft.scheduled_at, throttle_per_s=draft.throttle_per_s,
                        holdout_pct=draft.holdout_pct, state=CampaignState.DRAFT, created_by=by, created_at=now)
    session.add(campaign)
    session.flush()
    campaign.page = registry.get(draft.template_id).page_for({"campaign_id": campaign.id})
    session.add(CampaignEvent(campaign_id=campaign.id, from_state=None, to_state=CampaignState.DRAFT, by=by, at=now))
    return campaign


def update_campaign(session: Session, campaign_id: int, *, draft: CampaignDraft, by: str,
                    registry: TemplateRegistry, now: datetime) -> Campaign:
    campaign = get_campaign(session, campaign_id, lock=True)
    if campaign.state != CampaignState.DRAFT:
        raise CampaignStateError(f"only a draft can be edited; this campaign is {campaign.state}",
                                 state=campaign.state)
    campaign.data = check_draft(draft, registry)
    campaign.name, campaign.audience = draft.name.strip(), draft.audience.strip()
    campaign.template_id = draft.template_id
    campaign.scheduled_at, campaign.throttle_per_s = draft.scheduled_at, draft.throttle_per_s
    campaign.holdout_pct = draft.holdout_pct
    campaign.page = registry.get(draft.template_id).page_for({"campaign_id": campaign.id})
    session.add(CampaignEvent(campaign_id=campaign.id, from_state=campaign.state, to_state=campaign.state, by=by,
                              note="edited", at=now))
    return campaign


def get_campaign(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise CampaignNotFound(f"no campaign {campaign_id}", campaign_id=campaign_id)
    return found


def list_campaigns(session: Session, *, limit: int = 100) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def move_campaign(session: Session, campaign: Campaign, to: CampaignState, *, by: str, now: datetime,
                  note: str | None = None) -> None:
    current = CampaignState(campaign.state)
    if to not in CAMPAIGN_TRANSITIONS[current]:
        raise CampaignStateError(f"a {current} campaign cannot become {to}", state=current.value, to=to.value)
    campaign.state = to
    session.add(CampaignEvent(campaign_id=campaign.id, from_state=current, to_state=to, by=by, note=note, at=now))


def schedule_campaign(session: Session, campaign_id: int, *, by: str, registry: TemplateRegistry, now: datetime,
                      at: datetime | None = None) -> Campaign:
    """Schedule a draft for `at` (or its own time; none: now). The template and data are checked again:
    the registry may have changed since the draft was written."""
    campaign = get_campaign(session, campaign_id, lock=True)
    check_draft(_draft_of(campaign), registry)
    campaign.scheduled_at = at or campaign.scheduled_at or now
    move_campaign(session, campaign, CampaignState.SCHEDULED, by=by, now=now)
    return campaign


def pause_campaign(session: Session, campaign_id: int, *, by: str, now: datetime) -> Campaign:
    campaign = get_campaign(session, campaign_id, lock=True)
    move_campaign(session, campaign, CampaignState.PAUSED, by=by, now=now)
    return campaign


def resume_campaign(session: Session, campaign_id: int, *, by: str, now: datetime) -> Campaign:
    """Carry on where it stopped (or wait for its time, if it had not started)."""
    campaign = get_campaign(session, campaign_id, lock=True)
    target = CampaignState.SENDING if campaign.planned else CampaignState.SCHEDULED
    if campaign.state != CampaignState.PAUSED:
        # draft → scheduled is a legal move, but only through schedule_campaign (data checked, time set)
        raise CampaignStateError(f"only a paused campaign can be resumed; this campaign is {campaign.state}",
                                 state=campaign.state, to=target.value)
    move_campaign(session, campaign, target, by=by, now=now)
    return campaign


def cancel_campaign(session: Session, campaign_id: int, *, by: str, now: datetime) -> Campaign:
    """Stop for good: every recipient not yet sent is skipped. Messages being sent this moment finish."""
    campaign = get_campaign(session, campaign_id, lock=True)
    move_campaign(session, campaign, CampaignState.CANCELLED, by=by, now=now)
    campaign.finished_at = now
    session.execute(update(SubscribeMessage)
                    .where(SubscribeMessage.campaign_id == campaign_id, SubscribeMessage.state == SendState.PENDING)
                    .values(state=SendState.SKIPPED, reason=SKIP_CANCELLED, next_attempt_at=None))
    return campaign


def _draft_of(campaign: Campaign) -> CampaignDraft:
    return CampaignDraft(name=campaign.name, audience=campaign.audience, template_id=campaign.template_id,
                         data=dict(campaign.data), scheduled_at=campaign.scheduled_at,
                         throttle_per_s=campaign.throttle_per_s, holdout_pct=campaign.holdout_pct)


# ----- the audience -------------------------------------------------------------------------


def _has_credit(template_id: str) -> ColumnElement[bool]:
    return exists().where(SubscribeCredit.customer_id == Customer.id, SubscribeCredit.template_id == template_id,
                          SubscribeCredit.credits > 0)


def _opted_out() -> ColumnElement[bool]:
    return exists().where(OptOut.customer_id == Customer.id)


def _in_holdout(campaign_id: int, holdout_pct: int) -> ColumnElement[bool]:
    """A deterministic share of customers: the same customer is in or out of a campaign's holdout
    however often it is computed. A multiplicative hash of the ids spreads neighbours apart."""
    if holdout_pct <= 0:
        return literal(False)
    bucket = (Customer.id * 7919 + literal(campaign_id * 104729 % 1000003, Integer)) % 100
    return bucket < holdout_pct


def _audience(expression: str, registry: TemplateRegistry, template_id: str, now: datetime) -> ColumnElement[bool]:
    template = registry.get(template_id)
    return and_(Customer.channel == template.channel, tag_condition(parse_tag_expression(expression), now))


def count_audience(session: Session, *, audience: str, template_id: str, registry: TemplateRegistry,
                   now: datetime | None = None) -> AudienceCount:
    """The audience split by whether they can be sent to, counted by the database in one pass."""
    when = now or utcnow()
    has_credit, opted_out = _has_credit(template_id), _opted_out()

    def counting(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query: Select[Any] = select(
        func.count(), counting(and_(has_credit, not_(opted_out))), counting(opted_out),
    ).select_from(Customer).where(_audience(audience, registry, template_id, when))
    total, sendable, out = session.execute(query).one()
    return AudienceCount(total=int(total), with_credit=int(sendable), without_credit=int(total) - int(sendable)
                         - int(out), opted_out=int(out))


def plan_recipients(session: Session, campaign: Campaign, *, registry: TemplateRegistry, now: datetime) -> int:
    """Write every recipient row with one INSERT … SELECT; how many customers the audience holds."""
    holdout, opted_out, has_credit = (_in_holdout(campaign.id, campaign.holdout_pct), _opted_out(),
                                      _has_credit(campaign.template_id))
    state = case((holdout, SendState.SKIPPED.value), (opted_out, SendState.SKIPPED.value),
                 (has_credit, SendState.PENDING.value), else_=SendState.SKIPPED.value)
    reason = case((holdout, SKIP_HOLDOUT), (opted_out, SKIP_OPTED_OUT), (has_credit, None), else_=SKIP_NO_CREDIT)
    rows = select(
        Customer.id, literal(campaign.template_id), literal(Source.CAMPAIGN.value), literal(campaign.id),
        state, reason, literal(0), case((state == SendState.PENDING.value, now), else_=None), literal(now),
    ).where(_audience(campaign.audience, registry, campaign.template_id, now))
    columns = ["customer_id", "template_id", "source", "campaign_id", "state", "reason", "attempts",
               "next_attempt_at", "created_at"]
    # SQLAlchemy keeps an INSERT's rowcount only when asked: without this, psycopg reports -1.
    insert = SubscribeMessage.__table__.insert().from_select(columns, rows)  # type: ignore[attr-defined]
    result = session.execute(insert, execution_options={"preserve_rowcount": True})
    planned = affected_rows(result)
    campaign.planned, campaign.audience_size = True, planned
    return planned


def start_due_campaigns(factory: sessionmaker[Session], *, registry: TemplateRegistry, now: datetime) -> list[int]:
    """Move each scheduled campaign whose time has come to `sending`, planning its recipients in the same
    transaction: a crash leaves it scheduled and unplanned, never half planned."""
    started: list[int] = []
    with factory() as session:
        due = list(session.scalars(select(Campaign.id).where(Campaign.state == CampaignState.SCHEDULED,
                                                             Campaign.scheduled_at <= now)))
    for campaign_id in due:
        with transaction(factory) as session:
            campaign = get_campaign(session, campaign_id, lock=True)
            if campaign.state != CampaignState.SCHEDULED:
                continue  # another process started it first
            size = plan_recipients(session, campaign, registry=registry, now=now) if not campaign.planned else None
            campaign.started_at = campaign.started_at or now
            move_campaign(session, campaign, CampaignState.SENDING, by="scheduler", now=now,
                          note=None if size is None else f"{size} recipients planned")
        log.info("campaign %s started: %s recipients", campaign_id, size)
        started.append(campaign_id)
    return started


# ----- sending ------------------------------------------------------------------------------


@dataclass
class Progress:
    campaign_id: int
    state: str
    audience: int
    done: int  # sent, skipped, refused, failed or in doubt
    sent: int
    outcome: Outcome = field(default_factory=Outcome)


class CampaignSender:
    """Sends campaigns that are `sending`: batches of claimed recipients at the campaign's throttle.

    `send` works on one campaign for at most `budget_s` seconds, so the scheduler's job returns often
    (a pause, a shutdown, another campaign get their turn); the next call carries on from the rows."""

    def __init__(self, *, factory: sessionmaker[Session], sender: SubscribeSender,
                 registry: Callable[[], TemplateRegistry], batch: int = 200, workers: int = 16,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._factory, self._sender, self._registry = factory, sender, registry
        self._batch, self._workers, self._clock = batch, workers, clock

    def run_due(self, budget_s: float = 10.0) -> int:
        """The job: start campaigns whose time has come, then send each that is sending for a while."""
        start_due_campaigns(self._factory, registry=self._registry(), now=self._clock())
        self._sender.settle_stale_claims()
        with self._factory() as session:
            sending = list(session.scalars(select(Campaign.id).where(Campaign.state == CampaignState.SENDING)
                                           .order_by(Campaign.id)))
        return sum(self.send(campaign_id, budget_s=budget_s / max(1, len(sending))).outcome.sent
                   for campaign_id in sending)

    def send(self, campaign_id: int, *, budget_s: float | None = None,
             progress: Callable[[Progress], None] | None = None) -> Progress:
        """Send the campaign's due recipients until it is done, paused, cancelled or `budget_s` runs out."""
        started = time.monotonic()
        total = Outcome()
        throttle = self._throttle(campaign_id)
        while True:
            if self._state(campaign_id) != CampaignState.SENDING:
                break
            batch = self._batch if throttle <= 0 else max(1, min(self._batch, throttle))
            outcome = self._sender.send_due(limit=batch, campaign_id=campaign_id, workers=self._workers)
            _add(total, outcome)
            if progress is not None:
                progress(self.progress(campaign_id, total))
            if outcome.attempted == 0:
                if self._finish_if_done(campaign_id):
                    break
                time.sleep(0.2)  # retries are due later
            if outcome.rate_limited:
                time.sleep(min(5.0, 0.5 * outcome.rate_limited))  # WeChat asked to slow down
            pace(started, total.attempted, throttle)
            if budget_s is not None and time.monotonic() - started >= budget_s:
                break
        return self.progress(campaign_id, total)

    def progress(self, campaign_id: int, outcome: Outcome | None = None) -> Progress:
        with self._factory() as session:
            campaign = get_campaign(session, campaign_id)
            counted = progress_of(session, [campaign])[campaign_id]
        return Progress(campaign_id, campaign.state, counted.total, counted.done, counted.sent, outcome or Outcome())

    def _throttle(self, campaign_id: int) -> int:
        with self._factory() as session:
            return get_campaign(session, campaign_id).throttle_per_s

    def _state(self, campaign_id: int) -> CampaignState:
        with self._factory() as session:
            return CampaignState(get_campaign(session, campaign_id).state)

    def _finish_if_done(self, campaign_id: int) -> bool:
        """Done once no recipient is pending, being sent, or in doubt with a probe due."""
        now = self._clock()
        with transaction(self._factory) as session:
            live = session.scalar(select(func.count()).where(
                SubscribeMessage.campaign_id == campaign_id,
                or_(SubscribeMessage.state.in_([SendState.PENDING, SendState.SENDING]),
                    and_(SubscribeMessage.state == SendState.IN_DOUBT, SubscribeMessage.next_attempt_at.is_not(None)))))
            if live:
                return False
            campaign = get_campaign(session, campaign_id, lock=True)
            if campaign.state != CampaignState.SENDING:
                return True
            move_campaign(session, campaign, CampaignState.DONE, by="scheduler", now=now)
            campaign.finished_at = now
        log.info("campaign %s done", campaign_id)
        return True


@dataclass(frozen=True)
class Counted:
    total: int  # recipients planned (0 before the campaign starts)
    done: int  # no longer waiting: sent, skipped, refused, failed or in doubt
    sent: int


def progress_of(session: Session, campaigns: list[Campaign]) -> dict[int, Counted]:
    """Each campaign's progress, counted for all of them in one grouped query."""
    counts: dict[int, dict[str, int]] = {c.id: {} for c in campaigns}
    planned = [c.id for c in campaigns if c.planned]
    if planned:
        rows = session.execute(select(SubscribeMessage.campaign_id, SubscribeMessage.state, func.count())
                               .where(SubscribeMessage.campaign_id.in_(planned))
                               .group_by(SubscribeMessage.campaign_id, SubscribeMessage.state)).tuples()
        for campaign_id, state, count in rows:
            counts[int(campaign_id or 0)][state] = count
    result: dict[int, Counted] = {}
    for campaign in campaigns:
        by_state = counts[campaign.id]
        total = campaign.audience_size or sum(by_state.values())
        live = by_state.get(SendState.PENDING, 0) + by_state.get(SendState.SENDING, 0)
        result[campaign.id] = Counted(total, total - live, by_state.get(SendState.SENT, 0))
    return result


def _add(total: Outcome, outcome: Outcome) -> None:
    for name in ("sent", "refused", "retried", "failed", "in_doubt", "rate_limited"):
        setattr(total, name, getattr(total, name) + getattr(outcome, name))
    for code, count in outcome.codes.items():
        total.codes[code] = total.codes.get(code, 0) + count


# ----- results ------------------------------------------------------------------------------


def campaign_report(session: Session, campaign_id: int) -> dict[str, Any]:
    """Audience, sent, skipped by reason, failed by WeChat code, opens, and orders and GMV within 7 days
    of the send for the recipients, beside the same for the holdout."""
    campaign = get_campaign(session, campaign_id)
    rows = session.execute(
        select(SubscribeMessage.state, SubscribeMessage.reason, SubscribeMessage.error_code, func.count())
        .where(SubscribeMessage.campaign_id == campaign_id)
        .group_by(SubscribeMessage.state, SubscribeMessage.reason, SubscribeMessage.error_code)).all()
    by_state: dict[str, int] = {}
    skipped: dict[str, int] = {}
    failed: dict[str, int] = {}
    for state, reason, code, count in rows:
        by_state[state] = by_state.get(state, 0) + count
        if state == SendState.SKIPPED:
            skipped[reason or "other"] = skipped.get(reason or "other", 0) + count
        elif state in (SendState.REFUSED, SendState.FAILED):
            failed[str(code or 0)] = failed.get(str(code or 0), 0) + count
    opens = session.scalar(select(func.count(func.distinct(PageOpen.openid)))
                           .where(PageOpen.src == "campaign", PageOpen.ref_id == campaign_id)) or 0
    since = campaign.started_at
    return {
        "campaign_id": campaign.id, "name": campaign.name, "state": campaign.state,
        "audience": campaign.audience_size if campaign.planned else None,
        "sent": by_state.get(SendState.SENT, 0), "pending": by_state.get(SendState.PENDING, 0),
        "in_doubt": by_state.get(SendState.IN_DOUBT, 0), "skipped": skipped, "failed": failed,
        "opens": int(opens),
        "recipients": _conversions(session, campaign_id, SendState.SENT, None, since),
        "holdout": _conversions(session, campaign_id, SendState.SKIPPED, SKIP_HOLDOUT, since),
    }


def _conversions(session: Session, campaign_id: int, state: SendState, reason: str | None,
                 since: datetime | None) -> dict[str, int]:
    """Customers in the group, and their paid orders and GMV (fen) within 7 days of the campaign's start."""
    group = select(SubscribeMessage.customer_id).where(SubscribeMessage.campaign_id == campaign_id,
                                                       SubscribeMessage.state == state)
    if reason is not None:
        group = group.where(SubscribeMessage.reason == reason)
    customers = session.scalar(select(func.count()).select_from(group.subquery())) or 0
    if since is None:
        return {"customers": int(customers), "buyers": 0, "orders": 0, "gmv_fen": 0}
    orders = session.execute(
        select(func.count(func.distinct(Order.openid)), func.count(), func.coalesce(func.sum(Order.amount_fen), 0))
        .join(Customer, Customer.openid == Order.openid)
        .where(Customer.id.in_(group), Order.paid_at.is_not(None), Order.paid_at >= since,
               Order.paid_at < since + ATTRIBUTION_WINDOW)).one()
    return {"customers": int(customers), "buyers": int(orders[0]), "orders": int(orders[1]),
            "gmv_fen": int(orders[2])}
