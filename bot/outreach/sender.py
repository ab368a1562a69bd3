"""The one way a subscribe message leaves chatshop: claimed with its credit, then sent, at most once.

A batch of due rows is claimed in one transaction: each row's template and data are checked (WeChat's
40037 and 47003, before WeChat is called), each customer's credit for the template is taken (43101
when there is none), and the rows become `sending` with a lease. Only after that commits is WeChat
called, from a few threads; the outcomes are written in one more transaction.

A process killed mid-call leaves `sending` rows; once their lease passes they are `in_doubt`: WeChat
may or may not have delivered them. A doubtful row is sent again only when WeChat's own consent check
makes that safe: the send took the customer's last credit for its template (`credits_left` 0) and no
new consent has come since. WeChat then holds no credit if the first attempt reached it, so the probe
is refused with 43101 (the message was delivered: `sent`), or it holds exactly one and the probe
delivers the message. Either way the customer gets it once. Otherwise the row stays in doubt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Channel, Customer
from bot.outreach import consent
from bot.outreach.errors import InvalidTemplateData, UnknownTemplate
from bot.outreach.models import (
    LIVE_PREDICATE,
    SEND_TRANSITIONS,
    Campaign,
    SendState,
    Source,
    SubscribeMessage,
)
from bot.outreach.templates import Template, TemplateRegistry, to_wechat_data
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import dialect_name
from wechat.client import WeChatClient
from wechat.errors import IN_DOUBT_ERRCODE, TRANSPORT_ERRCODE, WeChatApiError

log = logging.getLogger(__name__)

NO_CONSENT = 43101
RATE_LIMITED = 45009
# WeChat did not take the message: the credit is given back and the send retried.
RETRYABLE = frozenset({-1, RATE_LIMITED, 40001, 42001, TRANSPORT_ERRCODE})
LIVE_ROWS = text(LIVE_PREDICATE)


def claim_lease_s(request_timeout_s: float) -> float:
    """How long a claim is the claimer's: wechatpy's longest call (a token refresh, the call, one retry)
    and a little slack for the thread pool."""
    return 3 * request_timeout_s + 5


@dataclass(frozen=True)
class SenderConfig:
    max_attempts: int = 4
    retry_backoff_s: float = 1.0
    lease_s: float = 30.0  # a claim outlives the longest WeChat call (token refresh + retry): see claim_lease_s
    miniprogram_state: str = "formal"  # developer | trial | formal: which build the message opens
    mp_app_id: str = ""  # the mini-program an Official Account's message opens


# A due row as claimed: the message, its customer's openid and channel, its template, data and page.
Row = tuple[SubscribeMessage, str, Channel, Template, dict[str, str], str]


@dataclass(frozen=True)
class Claimed:
    message_id: int
    customer_id: int
    channel: Channel
    template: Template
    payload: dict[str, Any]
    probe: bool  # a doubtful row sent again (see the module's docstring)
    lease_until: datetime  # the claim's lease, also its token: a later claim of the row sets another


@dataclass
class Outcome:
    sent: int = 0
    refused: int = 0
    retried: int = 0
    failed: int = 0
    in_doubt: int = 0
    rate_limited: int = 0
    codes: dict[int, int] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.sent + self.refused + self.retried + self.failed + self.in_doubt


class SubscribeSender:
    def __init__(
        self, *, factory: sessionmaker[Session], apis: Mapping[Channel, WeChatClient],
        templates: Callable[[], TemplateRegistry], config: SenderConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = factory
        self._apis = apis
        self._templates = templates
        self._config = config or SenderConfig()
        self._clock = clock
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # -- recording ---------------------------------------------------------------------------

    def record(
        self, session: Session, *, customer_id: int, template_id: str, source: Source, data: dict[str, str],
        page: str, idempotency_key: str,
    ) -> SubscribeMessage:
        """Write a message as `pending` in the caller's transaction (a repeated key: the first one)."""
        existing = session.scalar(select(SubscribeMessage).where(SubscribeMessage.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
        now = self._clock()
        row = SubscribeMessage(customer_id=customer_id, template_id=template_id, source=source, data=data,
                               page=page, state=SendState.PENDING, idempotency_key=idempotency_key, attempts=0,
                               next_attempt_at=now, created_at=now)
        session.add(row)
        session.flush()
        return row

    # -- sending -----------------------------------------------------------------------------

    def deliver(self, message_ids: Iterable[int]) -> Outcome:
        """Send these recorded messages now (after the transaction that recorded them committed)."""
        ids = list(message_ids)
        return self._send(SubscribeMessage.id.in_(ids), limit=len(ids), workers=1) if ids else Outcome()

    def send_due(self, *, limit: int = 100, campaign_id: int | None = None, workers: int = 4) -> Outcome:
        """Claim and send up to `limit` due messages: notices and reminders, or one campaign's."""
        scope = SubscribeMessage.campaign_id.is_(None) if campaign_id is None else (
            SubscribeMessage.campaign_id == campaign_id)
        return self._send(scope, limit=limit, workers=workers)

    def sweep(self) -> int:
        """The job: settle stale claims, then send what is due outside campaigns."""
        self.settle_stale_claims()
        return self.send_due().attempted

    def _send(self, scope: ColumnElement[bool], *, limit: int, workers: int) -> Outcome:
        outcome = Outcome()
        claims = self._claim(scope, limit, outcome)
        if not claims:
            return outcome
        if workers <= 1 or len(claims) == 1:
            answers = [self._call(claim) for claim in claims]
        else:
            answers = list(self._executor(workers).map(self._call, claims))
        self._record(claims, answers, outcome)
        return outcome

    def _executor(self, workers: int) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None or self._pool._max_workers < workers:
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="subscribe-send")
            return self._pool

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    # -- claiming ----------------------------------------------------------------------------

    def _claim(self, scope: ColumnElement[bool], limit: int, outcome: Outcome) -> list[Claimed]:
        now = self._clock()
        registry = self._templates()
        with transaction(self._factory) as session:
            query = (select(SubscribeMessage, Customer.openid, Customer.channel)
                     .join(Customer, Customer.id == SubscribeMessage.customer_id)
                     .where(LIVE_ROWS, scope, SubscribeMessage.state != SendState.SENDING,
                            SubscribeMessage.next_attempt_at <= now)
                     .order_by(SubscribeMessage.id).limit(limit))
            if dialect_name(session) == "postgresql":
                query = query.with_for_update(skip_locked=True, of=SubscribeMessage)
            rows = session.execute(query).all()
            # One lease for the batch, as long as one call may take. A message still waiting for a thread
            # when it runs out may be settled as in doubt meanwhile; its answer, when it comes, is kept only
            # if it is a delivery (`_settle_late`), so a short lease never sends anyone a message twice.
            lease = now + timedelta(seconds=self._config.lease_s)
            campaigns = _campaign_data(session, {row[0].campaign_id for row in rows if row[0].campaign_id})
            claims: list[Claimed] = []
            by_template: dict[str, list[Row]] = {}
            for message, openid, channel in rows:
                checked = self._check(message, Channel(channel), registry, campaigns, now, outcome)
                if checked is not None:
                    by_template.setdefault(message.template_id, []).append((message, openid, Channel(channel),
                                                                           *checked))
            for template_id, batch in by_template.items():
                claims += self._take_credits(session, template_id, batch, now, lease, outcome)
        return claims

    def _check(
        self, message: SubscribeMessage, channel: Channel, registry: TemplateRegistry,
        campaigns: Mapping[int, tuple[dict[str, str], str]], now: datetime, outcome: Outcome,
    ) -> tuple[Template, dict[str, str], str] | None:
        """The template, data and page WeChat will take, or the row refused with WeChat's code."""
        try:
            template = registry.get(message.template_id)
            if template.channel is not channel:
                raise InvalidTemplateData("template", f"a {template.channel} template cannot reach {channel}")
            if message.data is not None:
                return template, template.check(message.data), message.page
            data, page = campaigns[message.campaign_id or 0]
            return template, template.check(data), page
        except (UnknownTemplate, InvalidTemplateData) as refused:
            self._move(message, SendState.REFUSED, now, error_code=refused.errcode, reason=refused.message)
            outcome.refused += 1
            outcome.codes[refused.errcode] = outcome.codes.get(refused.errcode, 0) + 1
            return None

    def _take_credits(
        self, session: Session, template_id: str, batch: list[Row], now: datetime, lease: datetime,
        outcome: Outcome,
    ) -> list[Claimed]:
        template = batch[0][3]
        # One message per customer and template in a claim: a credit row is spent once per UPDATE, so a
        # second message of the same customer waits for the next claim, which sees what the first left.
        batch = _first_per_customer(batch)
        fresh = [item for item in batch if item[0].state == SendState.PENDING]
        used = consent.use_credits(session, template_id=template_id, kind=template.kind,
                                   customer_ids=[item[0].customer_id for item in fresh], now=now)
        consent.note_used(session, used, template_id=template_id,
                          message_ids={item[0].customer_id: item[0].id for item in fresh}, now=now)
        claims: list[Claimed] = []
        for message, openid, channel, _, data, page in batch:
            probe = message.state == SendState.IN_DOUBT
            if probe and consent.credit_now(session, customer_id=message.customer_id, template_id=template_id):
                # A new consent came since: WeChat would deliver a second copy. It stays in doubt.
                message.next_attempt_at, message.reason = None, "in doubt; a new consent makes a resend unsafe"
                continue
            if not probe and message.customer_id not in used:
                self._move(message, SendState.REFUSED, now, error_code=NO_CONSENT, reason="no consent credit")
                outcome.refused += 1
                outcome.codes[NO_CONSENT] = outcome.codes.get(NO_CONSENT, 0) + 1
                continue
            if not probe:
                message.credits_left = used[message.customer_id]
            message.attempts += 1
            self._move(message, SendState.SENDING, now)
            message.next_attempt_at = lease
            claims.append(Claimed(message.id, message.customer_id, channel, template,
                                  self._payload(channel, openid, template, data, page), probe, lease))
        return claims

    def _payload(self, channel: Channel, openid: str, template: Template, data: dict[str, str],
                 page: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"touser": openid, "template_id": template.id, "data": to_wechat_data(data)}
        if channel is Channel.MP:
            payload |= {"miniprogram_state": self._config.miniprogram_state, "lang": "zh_CN"}
            if page:
                payload["page"] = page
        elif page and self._config.mp_app_id:
            payload["miniprogram"] = {"appid": self._config.mp_app_id, "pagepath": page}
        return payload

    # -- calling and recording ---------------------------------------------------------------

    def _call(self, claim: Claimed) -> int:
        try:
            self._apis[claim.channel].subscribe.send(claim.payload, mini_program=claim.channel is Channel.MP)
        except WeChatApiError as exc:
            return exc.errcode
        return 0

    def _record(self, claims: list[Claimed], answers: list[int], outcome: Outcome) -> None:
        now = self._clock()
        with transaction(self._factory) as session:
            rows = {row.id: row for row in session.scalars(
                select(SubscribeMessage).where(SubscribeMessage.id.in_([c.message_id for c in claims])))}
            for claim, errcode in zip(claims, answers, strict=True):
                self._settle(session, rows[claim.message_id], claim, errcode, now, outcome)
        if outcome.rate_limited:
            log.warning("WeChat is rate-limiting subscribe sends (45009 x%d): slowing down", outcome.rate_limited)

    def _settle(self, session: Session, row: SubscribeMessage, claim: Claimed, errcode: int, now: datetime,
                outcome: Outcome) -> None:
        if errcode:
            outcome.codes[errcode] = outcome.codes.get(errcode, 0) + 1
        if row.state != SendState.SENDING or row.next_attempt_at != claim.lease_until:
            self._settle_late(row, errcode, now, outcome)
            return
        if errcode == 0 or (claim.probe and errcode == NO_CONSENT):
            # A probe refused for want of consent: the first attempt had reached the customer.
            self._move(row, SendState.SENT, now, error_code=errcode or None,
                       reason="delivered by the first attempt" if errcode else None)
            row.sent_at, row.next_attempt_at = now, None
            outcome.sent += 1
        elif errcode == IN_DOUBT_ERRCODE:
            self._move(row, SendState.IN_DOUBT, now, error_code=errcode, reason="no answer from WeChat")
            row.next_attempt_at = now + self._backoff(row) if row.credits_left == 0 else None
            outcome.in_doubt += 1
        elif errcode in RETRYABLE:
            self._retry(session, row, claim, errcode, now, outcome)
        else:
            if errcode == NO_CONSENT:
                consent.zero_credit(session, customer_id=row.customer_id, template_id=row.template_id,
                                    message_id=row.id, now=now)
            elif not claim.probe:
                consent.give_back_credit(session, customer_id=row.customer_id, template_id=row.template_id,
                                         kind=claim.template.kind, message_id=row.id, now=now)
            self._move(row, SendState.REFUSED, now, error_code=errcode, reason=f"WeChat refused it ({errcode})")
            row.next_attempt_at = None
            outcome.refused += 1

    def _settle_late(self, row: SubscribeMessage, errcode: int, now: datetime, outcome: Outcome) -> None:
        """An answer that came after the claim's lease ran out: recovery has taken the row over. Only a
        delivery is news to it (the row was in doubt); anything else leaves the row to its new owner."""
        if errcode == 0 and row.state == SendState.IN_DOUBT:
            self._move(row, SendState.SENT, now, reason="delivered (answered after its lease)")
            row.sent_at, row.next_attempt_at = now, None
            outcome.sent += 1
            return
        log.warning("subscribe message %s: WeChat's answer %s came after its claim's lease; left as %s",
                    row.id, errcode, row.state)

    def _retry(self, session: Session, row: SubscribeMessage, claim: Claimed, errcode: int, now: datetime,
               outcome: Outcome) -> None:
        if errcode == RATE_LIMITED:
            row.attempts -= 1  # WeChat asked us to slow down: not the message's fault
            outcome.rate_limited += 1
        if claim.probe:  # still in doubt: probe again later
            self._move(row, SendState.IN_DOUBT, now, error_code=errcode)
            row.next_attempt_at = now + self._backoff(row)
            outcome.retried += 1
            return
        consent.give_back_credit(session, customer_id=row.customer_id, template_id=row.template_id,
                                 kind=claim.template.kind, message_id=row.id, now=now)
        if row.attempts >= self._config.max_attempts:
            self._move(row, SendState.FAILED, now, error_code=errcode, reason=f"gave up after {row.attempts} tries")
            row.next_attempt_at = None
            outcome.failed += 1
            return
        self._move(row, SendState.PENDING, now, error_code=errcode)
        row.next_attempt_at = now + self._backoff(row)
        outcome.retried += 1

    def _backoff(self, row: SubscribeMessage) -> timedelta:
        return timedelta(seconds=self._config.retry_backoff_s * 2 ** max(0, row.attempts - 1))

    @staticmethod
    def _move(row: SubscribeMessage, to: SendState, now: datetime, *, error_code: int | None = None,
              reason: str | None = None) -> None:
        current = SendState(row.state)
        if to not in SEND_TRANSITIONS[current]:
            raise RuntimeError(f"subscribe message {row.id}: {current} -> {to}")
        row.state = to
        if error_code is not None or to in (SendState.SENT, SendState.SENDING):
            row.error_code = error_code
        if reason is not None or to is SendState.SENT:
            row.reason = reason

    # -- recovery ----------------------------------------------------------------------------

    def settle_stale_claims(self) -> int:
        """`sending` rows past their lease belong to a process that stopped mid-call: in doubt.

        Those whose send took the customer's last credit are due for a probe at once (see above)."""
        now = self._clock()
        with transaction(self._factory) as session:
            query = select(SubscribeMessage).where(LIVE_ROWS, SubscribeMessage.state == SendState.SENDING,
                                                   SubscribeMessage.next_attempt_at <= now)
            if dialect_name(session) == "postgresql":
                query = query.with_for_update(skip_locked=True)
            stale = list(session.scalars(query))
            for row in stale:
                self._move(row, SendState.IN_DOUBT, now, reason="process stopped mid-send")
                row.next_attempt_at = now if row.credits_left == 0 else None
        if stale:
            log.warning("%d subscribe message(s) were mid-send when a process stopped: in doubt", len(stale))
        return len(stale)


def _first_per_customer(batch: list[Row]) -> list[Row]:
    firsts: dict[int, Row] = {}
    for item in batch:
        firsts.setdefault(item[0].customer_id, item)
    return list(firsts.values())


def _campaign_data(session: Session, ids: set[int | None]) -> dict[int, tuple[dict[str, str], str]]:
    if not ids:
        return {}
    found = session.execute(select(Campaign.id, Campaign.data, Campaign.page).where(Campaign.id.in_(ids)))
    return {campaign_id: (dict(data), page) for campaign_id, data, page in found}


def pace(started: float, sent: int, per_second: int) -> None:
    """Sleep as long as keeps `sent` messages since `started` at or under `per_second` (0: no limit)."""
    if per_second <= 0:
        return
    ahead = sent / per_second - (time.monotonic() - started)
    if ahead > 0:
        time.sleep(ahead)

