"""Refunds, full and partial: a refund row per request, submitted to WeChat Pay after commit.

A refund is recorded `pending` in the transaction that decides it, then submitted (same
out_refund_no on every retry, so WeChat Pay refunds it once), then settled by WeChat Pay's refund
notification or by the reconciliation job's query, exactly once under the order's lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.clock import utcnow
from storage.db import transaction
from wechat.errors import PayApiError, PayError, PayUnavailable
from wechat.pay import WeChatPay

from .alerts import raise_alert
from .errors import InvalidInput, NotFound, RefundRefused
from .models import IN_FLIGHT_REFUNDS, Order, OrderEvent, Refund
from .orders import lock_order, order_quantities, release_stock, resume_order, transition
from .outbox import record_event
from .states import REFUNDABLE, EventKind, OrderStatus, RefundStatus

log = logging.getLogger(__name__)

MAX_REASON = 80


class RefundFacts(Protocol):
    """What a refund notification (pay_notify.RefundNotice) tells us."""

    @property
    def out_trade_no(self) -> str: ...
    @property
    def out_refund_no(self) -> str: ...
    @property
    def refund_id(self) -> str: ...
    @property
    def refund_status(self) -> str: ...
    @property
    def amount_refund(self) -> int: ...


class SettleOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PROCESSING = "processing"
    DUPLICATE = "duplicate"  # already settled: nothing changed
    MISMATCH = "mismatch"  # does not match our refund row: alert recorded, nothing changed
    UNKNOWN_REFUND = "unknown_refund"


@dataclass(frozen=True)
class RefundResultView:
    outcome: SettleOutcome
    out_refund_no: str
    order_status: str | None


def refundable_fen(order: Order) -> int:
    """What can still be refunded: paid minus refunded minus refunds on their way."""
    return order.amount_fen - order.refunded_fen - sum(r.amount_fen for r in order.refunds_in_flight)


def refund_order(
    session: Session, *, order_no: str, amount_fen: int | None = None, reason: str, actor: str = "staff",
    now: datetime | None = None,
) -> Refund:
    """Record a refund (all that is left when amount_fen is None); submit it after commit.

    A refund that brings the refunded total to the order amount moves the order to `refunding`;
    a partial one leaves the order's state as it is (a refunding order settles as `_end_refunding` says).
    """
    now = now or utcnow()
    reason = _check_reason(reason)
    order = lock_order(session, order_no=order_no)
    if order.state not in REFUNDABLE:
        raise RefundRefused(f"order {order_no} is {order.status}: nothing paid to refund")
    left = refundable_fen(order)
    amount = left if amount_fen is None else amount_fen
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("amount_fen must be a positive whole number of fen", field="amount_fen")
    if amount > left:
        raise RefundRefused(f"order {order_no}: {amount} fen asked, {left} fen left to refund")
    refund = _new_refund(session, order, amount, reason, actor, now)
    if amount == left and order.state is not OrderStatus.REFUNDING:
        resume = order.state
        transition(session, order, OrderStatus.REFUNDING, reason=reason, actor=actor, now=now,
                   event=EventKind.REFUND_STARTED, payload={"out_refund_no": refund.out_refund_no})
        order.resume_status = resume.value
    else:
        record_event(session, EventKind.REFUND_STARTED, order_no=order.order_no, openid=order.openid, now=now,
                     payload={"out_refund_no": refund.out_refund_no, "refund_fen": amount, "reason": reason})
    return refund


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason.strip()) > MAX_REASON:
        raise InvalidInput(f"reason must be 1-{MAX_REASON} characters", field="reason")
    return reason.strip()


def _new_refund(session: Session, order: Order, amount: int, reason: str, actor: str, now: datetime) -> Refund:
    """out_refund_no: the order number, 'R' and a sequence (unique per order; order row is locked). A partial
    refund moves no state, so the refund row is where who made it is kept."""
    refund = Refund(out_refund_no=f"{order.order_no}R{len(order.refunds) + 1:02d}", order_no=order.order_no,
                    amount_fen=amount, reason=reason[:MAX_REASON], status=RefundStatus.PENDING.value,
                    created_by=actor[:80], created_at=now)
    order.refunds.append(refund)
    session.flush()
    log.info("refund %s of %s: %d fen (%s)", refund.out_refund_no, order.order_no, amount, reason)
    return refund


# ----- submitting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundMade:
    out_refund_no: str
    amount_fen: int
    status: str  # the refund's status after the submission: pending when WeChat Pay is not reached


def refund_and_submit(
    factory: sessionmaker[Session], *, pay: WeChatPay | None, order_no: str, amount_fen: int | None,
    reason: str, actor: str = "staff", now: datetime | None = None,
) -> RefundMade:
    """Staff refund an order: record the refund and commit, then submit it to WeChat Pay outside the
    transaction (WeChat Pay may be slow). Without a client, or without an answer, it stays pending and
    the refunds job submits it later with the same out_refund_no."""
    with transaction(factory) as session:
        made = refund_order(session, order_no=order_no, amount_fen=amount_fen, reason=reason, actor=actor,
                            now=now or utcnow())
        out_refund_no, amount = made.out_refund_no, made.amount_fen
    status = submit_refund(factory, pay=pay, out_refund_no=out_refund_no) if pay else RefundStatus.PENDING.value
    return RefundMade(out_refund_no, amount, status)


def submit_refund(
    factory: sessionmaker[Session], *, pay: WeChatPay, out_refund_no: str, now: datetime | None = None
) -> str:
    """Send a pending refund to WeChat Pay (outside any transaction), then record its answer.

    Returns the refund's status afterwards. An unknown outcome (network, 5xx) leaves it pending
    for the next try, with the same out_refund_no.
    """
    with transaction(factory) as session:
        refund = session.scalars(select(Refund).where(Refund.out_refund_no == out_refund_no)).first()
        if refund is None:
            raise NotFound(f"no refund {out_refund_no}")
        if refund.status != RefundStatus.PENDING.value:
            return refund.status
        order = session.get(Order, refund.order_no)
        assert order is not None  # a foreign key guarantees it
        total, amount, reason, order_no = order.amount_fen, refund.amount_fen, refund.reason, order.order_no
    try:
        answer = pay.refund(out_trade_no=order_no, out_refund_no=out_refund_no, refund_fen=amount,
                            total_fen=total, reason=reason)
    except PayUnavailable as exc:
        log.warning("refund %s: no answer from WeChat Pay (%s); will retry", out_refund_no, exc)
        return RefundStatus.PENDING.value
    except PayApiError as exc:
        if exc.retryable:
            log.warning("refund %s: WeChat Pay busy (%s); will retry", out_refund_no, exc.pay_code)
            return RefundStatus.PENDING.value
        with transaction(factory) as session:
            return settle_refund(session, out_refund_no=out_refund_no, status="REFUSED", refund_id=None,
                                 error=f"{exc.pay_code}: {exc.pay_message}"[:255], now=now).outcome.value
    except PayError as exc:
        log.error("refund %s refused before sending: %s", out_refund_no, exc)
        with transaction(factory) as session:
            return settle_refund(session, out_refund_no=out_refund_no, status="REFUSED", refund_id=None,
                                 error=str(exc)[:255], now=now).outcome.value
    with transaction(factory) as session:
        view = settle_refund(session, out_refund_no=out_refund_no, status=answer.status,
                             refund_id=answer.refund_id, now=now)
    return RefundStatus.PROCESSING.value if view.outcome is SettleOutcome.PROCESSING else view.outcome.value


def submit_pending_refunds(
    factory: sessionmaker[Session], *, pay: WeChatPay, now: datetime | None = None, limit: int = 50
) -> int:
    """Submit every refund still pending (new ones, and ones whose submission had no answer)."""
    with factory() as session:
        pending = list(session.scalars(
            select(Refund.out_refund_no).where(Refund.status == RefundStatus.PENDING.value)
            .order_by(Refund.id).limit(limit)
        ))
    return sum(1 for no in pending if submit_refund(factory, pay=pay, out_refund_no=no, now=now) != "pending")


# ----- settling ------------------------------------------------------------------------------


def apply_refund_notice(
    session: Session, *, notice: RefundFacts, expected_mchid: str | None = None, now: datetime | None = None
) -> RefundResultView:
    """Apply WeChat Pay's refund notification once (duplicates change nothing)."""
    mchid = getattr(notice, "mchid", None)
    if expected_mchid is not None and mchid != expected_mchid:
        raise_alert(session, kind="refund_merchant_mismatch", order_no=notice.out_trade_no,
                    key=f"refund_mchid:{notice.out_refund_no}", detail=f"mchid {mchid!r} is not ours",
                    now=now)
        return RefundResultView(SettleOutcome.MISMATCH, notice.out_refund_no, None)
    return settle_refund(session, out_refund_no=notice.out_refund_no, status=notice.refund_status,
                         refund_id=notice.refund_id, amount_fen=notice.amount_refund,
                         out_trade_no=notice.out_trade_no, now=now)


def settle_refund(
    session: Session, *, out_refund_no: str, status: str, refund_id: str | None, amount_fen: int | None = None,
    out_trade_no: str | None = None, error: str | None = None, now: datetime | None = None,
) -> RefundResultView:
    """Record what WeChat Pay says about a refund: SUCCESS, PROCESSING, or CLOSED/ABNORMAL/REFUSED."""
    now = now or utcnow()
    order_no = session.scalar(select(Refund.order_no).where(Refund.out_refund_no == out_refund_no))
    if order_no is None:
        raise_alert(session, kind="unknown_refund", order_no=out_trade_no, key=f"unknown_refund:{out_refund_no}",
                    detail=f"WeChat Pay reported refund {out_refund_no} ({status}) that we never made", now=now)
        return RefundResultView(SettleOutcome.UNKNOWN_REFUND, out_refund_no, None)
    order = lock_order(session, order_no=order_no)  # the order first, always: one lock order
    refund = next(r for r in order.refunds if r.out_refund_no == out_refund_no)
    if (out_trade_no is not None and out_trade_no != order_no) or (
        amount_fen is not None and amount_fen != refund.amount_fen
    ):
        raise_alert(session, kind="refund_mismatch", order_no=order_no, key=f"refund_mismatch:{out_refund_no}",
                    detail=f"notice for {out_trade_no} of {amount_fen} fen; ours is {refund.amount_fen} fen",
                    now=now)
        return RefundResultView(SettleOutcome.MISMATCH, out_refund_no, order.status)
    if refund.status not in IN_FLIGHT_REFUNDS:
        return RefundResultView(SettleOutcome.DUPLICATE, out_refund_no, order.status)
    if refund_id:
        refund.refund_id = refund_id
    refund.submitted_at = refund.submitted_at or now
    if status == "SUCCESS":
        _refund_succeeded(session, order, refund, now)
        outcome = SettleOutcome.SUCCEEDED
    elif status == "PROCESSING":
        refund.status = RefundStatus.PROCESSING.value
        outcome = SettleOutcome.PROCESSING
    else:
        _refund_failed(session, order, refund, error or f"WeChat Pay: {status}", now)
        outcome = SettleOutcome.FAILED
    return RefundResultView(outcome, out_refund_no, order.status)


def _refund_succeeded(session: Session, order: Order, refund: Refund, now: datetime) -> None:
    refund.status, refund.settled_at = RefundStatus.SUCCEEDED.value, now
    order.refunded_fen += refund.amount_fen
    record_event(session, EventKind.REFUND_SUCCEEDED, order_no=order.order_no, openid=order.openid, now=now,
                 payload={"out_refund_no": refund.out_refund_no, "refund_fen": refund.amount_fen,
                          "refunded_fen": order.refunded_fen, "amount_fen": order.amount_fen})
    _end_refunding(session, order, now)


def _refund_failed(session: Session, order: Order, refund: Refund, error: str, now: datetime) -> None:
    refund.status, refund.error, refund.settled_at = RefundStatus.FAILED.value, error[:255], now
    record_event(session, EventKind.REFUND_FAILED, order_no=order.order_no, openid=order.openid, now=now,
                 payload={"out_refund_no": refund.out_refund_no, "refund_fen": refund.amount_fen, "error": error})
    raise_alert(session, kind="refund_failed", order_no=order.order_no, key=f"refund_failed:{refund.out_refund_no}",
                detail=f"refund {refund.out_refund_no} of {refund.amount_fen} fen failed: {error}", now=now)
    _end_refunding(session, order, now)


def _end_refunding(session: Session, order: Order, now: datetime) -> None:
    """Once no refund is on its way, a refunding order whose refunds answered it moves on.

    Every fen back: `refunded`. Otherwise the answer was part of the money (or nothing, when the
    refunds failed) and the order goes back to where it was, still refundable. A refund made before
    the order became refunding is no answer to the request: that stays with staff.
    """
    if order.state is not OrderStatus.REFUNDING or order.refunds_in_flight:
        return
    if order.refunded_fen == order.amount_fen:
        transition(session, order, OrderStatus.REFUNDED, reason="fully refunded", actor="wechatpay", now=now)
        if order.shipped_at is None:  # the goods never left: they go back on sale
            release_stock(session, order_quantities(order))
        order.resume_status = None
        return
    answers = _refunds_since_refunding(session, order)
    if not answers:
        return
    granted = sum(r.amount_fen for r in answers if r.status == RefundStatus.SUCCEEDED.value)
    if granted == 0:
        resume_order(session, order, reason="refund failed", actor="wechatpay", now=now,
                     event=EventKind.ORDER_NOT_REFUNDED)
        return
    resume_order(session, order, reason=f"partly refunded: {order.refunded_fen} of {order.amount_fen} fen",
                 actor="wechatpay", now=now, event=EventKind.ORDER_PARTLY_REFUNDED,
                 payload={"refund_fen": granted, "refunded_fen": order.refunded_fen})


def _refunds_since_refunding(session: Session, order: Order) -> list[Refund]:
    """The refunds staff made since the order last became refunding: the answer to it.

    A full refund's row carries the same time as the move it causes, hence `>=`.
    """
    since = session.scalar(
        select(OrderEvent.created_at)
        .where(OrderEvent.order_no == order.order_no, OrderEvent.to_status == OrderStatus.REFUNDING.value)
        .order_by(OrderEvent.id.desc()).limit(1)
    )
    if since is None:  # every way into refunding writes an order_events row; this is only defensive
        return []
    return [r for r in order.refunds if r.created_at >= since]
