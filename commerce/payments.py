"""Payments applied: WeChat Pay's notices (and query answers) applied exactly once under a lock,
unpaid-order expiry (close at WeChat Pay first), late payments, and reconciliation.

Every WeChat Pay call happens outside a database transaction; the transaction that follows takes
the order's row lock and re-checks the state, so concurrent notices, the expiry job and the
reconciliation job make exactly one transition between them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.clock import utcnow
from storage.db import transaction
from wechat.errors import PayApiError, PayError, PayUnavailable
from wechat.pay import TradeState, WeChatPay

from .alerts import raise_alert
from .errors import IllegalTransition, OutOfStock
from .models import Order, Payment, Refund
from .orders import (
    cancel_order,
    get_order,
    lock_order,
    order_quantities,
    orders_due,
    record_prepay,
    reserve_stock,
    transition,
)
from .outbox import record_event
from .refunds import _new_refund, settle_refund, submit_refund
from .states import EventKind, OrderStatus, RefundStatus

log = logging.getLogger(__name__)

PAID_STATES = (TradeState.SUCCESS.value, TradeState.REFUND.value)
# WeChat Pay's answers for an order it has never seen (v3 uses the first; older docs the second).
ORDER_NOT_EXIST = frozenset({"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"})
LATE_REFUND_REASON = "订单已超时取消且库存不足，自动退款"


class PaymentFacts(Protocol):
    """What WeChat Pay says about a payment: pay_notify.PaymentNotice and wechatpay.PayTransaction."""

    @property
    def appid(self) -> str: ...
    @property
    def mchid(self) -> str: ...
    @property
    def out_trade_no(self) -> str: ...
    @property
    def transaction_id(self) -> str | None: ...
    @property
    def trade_state(self) -> str: ...
    @property
    def amount_total(self) -> int | None: ...
    @property
    def payer_openid(self) -> str | None: ...
    @property
    def success_time(self) -> datetime | None: ...


class ApplyOutcome(StrEnum):
    APPLIED = "applied"  # pending_payment -> paid
    LATE_REAPPLIED = "late_reapplied"  # paid after expiry; stock reserved again, cancelled -> paid
    LATE_REFUNDING = "late_refunding"  # paid after expiry, stock gone: refunded automatically
    DUPLICATE = "duplicate"  # this transaction was applied before: nothing changed
    NOT_PAID = "not_paid"  # the notice/query does not say SUCCESS: nothing to apply
    AMOUNT_MISMATCH = "amount_mismatch"  # order stays unpaid; alert recorded
    MERCHANT_MISMATCH = "merchant_mismatch"  # appid/mchid not ours; alert recorded
    UNKNOWN_ORDER = "unknown_order"  # no such out_trade_no; alert recorded


ACCEPTED = frozenset({ApplyOutcome.APPLIED, ApplyOutcome.LATE_REAPPLIED, ApplyOutcome.LATE_REFUNDING,
                      ApplyOutcome.DUPLICATE, ApplyOutcome.NOT_PAID})


@dataclass(frozen=True)
class ApplyResult:
    outcome: ApplyOutcome
    order_no: str
    order_status: str | None  # after applying; None for an unknown order
    refund_no: str | None = None  # an automatic refund to submit after commit

    @property
    def accepted(self) -> bool:
        """The notice was consistent with our records (applied now or before)."""
        return self.outcome in ACCEPTED


def apply_payment_notice(
    session: Session, *, notice: PaymentFacts, expected_appid: str, expected_mchid: str,
    source: str = "notify", now: datetime | None = None,
) -> ApplyResult:
    """Apply a successful payment to its order, once, under the order's row lock."""
    now = now or utcnow()
    order_no = notice.out_trade_no
    if notice.trade_state not in PAID_STATES or not notice.transaction_id:
        return ApplyResult(ApplyOutcome.NOT_PAID, order_no, None)
    if notice.appid != expected_appid or notice.mchid != expected_mchid:
        _alert(session, notice, "merchant_mismatch",
               f"appid {notice.appid!r} / mchid {notice.mchid!r} are not ours", now)
        return ApplyResult(ApplyOutcome.MERCHANT_MISMATCH, order_no, None)
    order = session.scalars(
        select(Order).where(Order.order_no == order_no).with_for_update().execution_options(populate_existing=True)
    ).first()
    if order is None:
        _alert(session, notice, "unknown_order", f"payment for unknown order {order_no!r}", now)
        return ApplyResult(ApplyOutcome.UNKNOWN_ORDER, order_no, None)
    if session.scalar(select(Payment.id).where(Payment.transaction_id == notice.transaction_id)) is not None:
        return ApplyResult(ApplyOutcome.DUPLICATE, order_no, order.status)
    if notice.amount_total != order.amount_fen:
        _alert(session, notice, "amount_mismatch",
               f"paid {notice.amount_total} fen for an order of {order.amount_fen} fen", now)
        return ApplyResult(ApplyOutcome.AMOUNT_MISMATCH, order_no, order.status)
    if order.state is OrderStatus.PENDING_PAYMENT:
        _mark_paid(session, order, notice, source, "applied", now, reason="paid")
        return ApplyResult(ApplyOutcome.APPLIED, order_no, order.status)
    if order.state is OrderStatus.CANCELLED:
        return _apply_late_payment(session, order, notice, source, now)
    # Paid already under another transaction id: WeChat Pay takes one payment per out_trade_no,
    # so this is a second charge that staff must look at.
    _alert(session, notice, "second_payment", f"order already {order.status} by {order.transaction_id}", now)
    return ApplyResult(ApplyOutcome.DUPLICATE, order_no, order.status)


def _alert(session: Session, notice: PaymentFacts, kind: str, detail: str, now: datetime) -> None:
    raise_alert(session, kind=kind, key=f"{kind}:{notice.transaction_id}", detail=detail,
                order_no=notice.out_trade_no, transaction_id=notice.transaction_id, now=now)


def _record_payment(session: Session, order: Order, notice: PaymentFacts, source: str, outcome: str,
                    now: datetime) -> None:
    session.add(Payment(transaction_id=str(notice.transaction_id), order_no=order.order_no,
                        amount_fen=int(notice.amount_total or 0), payer_openid=notice.payer_openid or "",
                        success_time=notice.success_time, source=source, outcome=outcome, recorded_at=now))


def _mark_paid(session: Session, order: Order, notice: PaymentFacts, source: str, outcome: str, now: datetime,
               *, reason: str) -> None:
    _record_payment(session, order, notice, source, outcome, now)
    transition(session, order, OrderStatus.PAID, reason=reason, actor="wechatpay", now=now,
               payload={"transaction_id": notice.transaction_id, "late": outcome != "applied"})
    order.transaction_id, order.paid_at = notice.transaction_id, notice.success_time or now


def _apply_late_payment(
    session: Session, order: Order, notice: PaymentFacts, source: str, now: datetime
) -> ApplyResult:
    """Money arrived for an order we cancelled: sell it if the stock is still there, else give it back."""
    try:
        with session.begin_nested():  # a savepoint: a SKU short of units undoes the ones taken before it
            reserve_stock(session, order_quantities(order))
    except OutOfStock as exc:
        _record_payment(session, order, notice, source, "late_refunded", now)
        order.transaction_id = notice.transaction_id
        refund = _new_refund(session, order, order.amount_fen, LATE_REFUND_REASON, "wechatpay", now)
        detail = (f"paid after cancellation ({order.cancel_reason}); SKU {exc.sku_id} sold out; "
                  f"refund {refund.out_refund_no}")
        _alert(session, notice, "late_payment_refunded", detail, now)
        record_event(session, EventKind.LATE_PAYMENT_REFUNDED, order_no=order.order_no, openid=order.openid,
                     now=now, payload={"out_refund_no": refund.out_refund_no, "refund_fen": refund.amount_fen,
                                       "sku_id": exc.sku_id, "transaction_id": notice.transaction_id})
        return ApplyResult(ApplyOutcome.LATE_REFUNDING, order.order_no, order.status, refund.out_refund_no)
    _mark_paid(session, order, notice, source, "late_reserved", now,
               reason="paid after cancellation; stock reserved again")
    order.cancelled_at = order.cancel_reason = None
    return ApplyResult(ApplyOutcome.LATE_REAPPLIED, order.order_no, order.status)


def receive_payment_notice(
    factory: sessionmaker[Session], *, pay: WeChatPay, notice: PaymentFacts, source: str = "notify",
    now: datetime | None = None,
) -> ApplyResult:
    """Apply a notice in its own transaction, then submit the automatic refund it may call for."""
    with transaction(factory) as session:
        result = apply_payment_notice(session, notice=notice, expected_appid=pay.config.appid,
                                      expected_mchid=pay.config.mchid, source=source, now=now)
    if result.refund_no:
        submit_refund(factory, pay=pay, out_refund_no=result.refund_no, now=now)
    return result


# ----- prepay --------------------------------------------------------------------------------


def prepay_order(
    factory: sessionmaker[Session], *, pay: WeChatPay, order_no: str, openid: str
) -> dict[str, str]:
    """WeChat Pay's prepay for an unpaid order, and the signed params for wx.requestPayment."""
    with factory() as session:
        order = get_order(session, order_no=order_no, openid=openid)
        if order.state is not OrderStatus.PENDING_PAYMENT:
            raise IllegalTransition(order_no, order.status, "prepaid")
        description, amount, expires_at = order.description, order.amount_fen, order.expires_at
    prepay_id = pay.prepay_jsapi(out_trade_no=order_no, description=description, amount_fen=amount,
                                 payer_openid=openid, time_expire=expires_at)
    with transaction(factory) as session:
        record_prepay(session, order_no=order_no, prepay_id=prepay_id)
    return pay.pay_params(prepay_id)


# ----- closing unpaid orders -----------------------------------------------------------------


class CloseOutcome(StrEnum):
    CANCELLED = "cancelled"
    PAID = "paid"  # WeChat Pay says it was paid: the payment was applied instead
    NOT_PENDING = "not_pending"  # someone else moved it first
    DEFERRED = "deferred"  # WeChat Pay gave no usable answer: try again later


def close_and_cancel(
    factory: sessionmaker[Session], *, pay: WeChatPay | None, order_no: str, reason: str, actor: str,
    openid: str | None = None, now: datetime | None = None,
) -> CloseOutcome:
    """Close the WeChat Pay order FIRST, then cancel and release stock; if it was paid, apply that.

    Without a WeChat Pay client only an order that was never prepaid can be cancelled: nothing at
    WeChat Pay could take its money.
    """
    now = now or utcnow()
    with factory() as session:
        order = get_order(session, order_no=order_no, openid=openid)
        if order.state is not OrderStatus.PENDING_PAYMENT:
            raise IllegalTransition(order_no, order.status, OrderStatus.CANCELLED.value)
        prepaid = order.prepay_id is not None
    if pay is None:
        decided = CloseOutcome.DEFERRED if prepaid else None
    else:
        decided = _close_at_wechatpay(factory, pay, order_no, now)
    if decided is not None:
        return decided
    with transaction(factory) as session:
        order = lock_order(session, order_no=order_no)
        if order.state is not OrderStatus.PENDING_PAYMENT:
            return CloseOutcome.NOT_PENDING  # a notice won the race: it was applied, keep it
        cancel_order(session, order_no=order_no, reason=reason, actor=actor, now=now)
    return CloseOutcome.CANCELLED


def cancel_unpaid_order(
    factory: sessionmaker[Session], *, pay: WeChatPay | None, order_no: str, openid: str, reason: str,
    actor: str, now: datetime | None = None,
) -> bool:
    """A customer cancels their unpaid order: True once it is cancelled, False when WeChat Pay did not
    confirm the close (nothing changed; try again). Paid meanwhile: the payment wins, and the cancel
    is refused as an illegal transition."""
    outcome = close_and_cancel(factory, pay=pay, order_no=order_no, reason=reason, actor=actor, openid=openid,
                               now=now)
    if outcome in (CloseOutcome.PAID, CloseOutcome.NOT_PENDING):
        with factory() as session:
            current = get_order(session, order_no=order_no, openid=openid)
            raise IllegalTransition(order_no, current.status, OrderStatus.CANCELLED.value)
    return outcome is CloseOutcome.CANCELLED


def _close_at_wechatpay(
    factory: sessionmaker[Session], pay: WeChatPay, order_no: str, now: datetime
) -> CloseOutcome | None:
    """None when the order can no longer be paid (closed, or never known to WeChat Pay)."""
    try:
        pay.close(order_no)
        return None
    except PayApiError as exc:
        if exc.pay_code in ORDER_NOT_EXIST:
            return None
        log.info("close %s refused (%s); asking WeChat Pay what happened", order_no, exc.pay_code)
    except PayError as exc:
        log.warning("close %s: %s; will retry", order_no, exc)
        return CloseOutcome.DEFERRED
    try:
        found = pay.query(order_no)
    except PayApiError as exc:
        return None if exc.pay_code in ORDER_NOT_EXIST else CloseOutcome.DEFERRED
    except PayError:
        return CloseOutcome.DEFERRED
    if found.trade_state in PAID_STATES:
        receive_payment_notice(factory, pay=pay, notice=found, source="query", now=now)
        return CloseOutcome.PAID
    if found.trade_state in (TradeState.CLOSED.value, TradeState.PAYERROR.value, TradeState.REVOKED.value):
        return None
    return CloseOutcome.DEFERRED  # NOTPAY/USERPAYING yet close refused: ask again next round


def expire_unpaid_orders(
    factory: sessionmaker[Session], *, pay: WeChatPay | None, now: datetime, limit: int = 100
) -> int:
    """The expiry job: every pending order past expires_at is closed at WeChat Pay and cancelled."""
    with factory() as session:
        due = orders_due(session, status=OrderStatus.PENDING_PAYMENT, before=now, limit=limit)
    cancelled = 0
    for order_no in due:
        try:
            outcome = close_and_cancel(factory, pay=pay, order_no=order_no, reason="expired", actor="scheduler",
                                       now=now)
        except IllegalTransition:
            continue  # paid or cancelled since we looked
        cancelled += outcome is CloseOutcome.CANCELLED
    if due:
        log.info("expiry: %d of %d due orders cancelled", cancelled, len(due))
    return cancelled


# ----- reconciliation ------------------------------------------------------------------------


def reconcile_pending(
    factory: sessionmaker[Session], *, pay: WeChatPay, now: datetime, older_than_s: int = 300, limit: int = 100
) -> int:
    """Ask WeChat Pay about pending orders older than `older_than_s` whose notice never came, and
    about refunds still processing; apply what it says. Returns how many were settled."""
    with factory() as session:
        orders = list(session.scalars(
            select(Order.order_no).where(
                Order.status == OrderStatus.PENDING_PAYMENT.value,
                Order.created_at <= now - timedelta(seconds=older_than_s),
                Order.prepay_id.is_not(None),
            ).order_by(Order.created_at).limit(limit)
        ))
        refunds = list(session.scalars(
            select(Refund.out_refund_no).where(
                Refund.status == RefundStatus.PROCESSING.value,
                Refund.submitted_at <= now - timedelta(seconds=older_than_s),
            ).order_by(Refund.id).limit(limit)
        ))
    settled = sum(_reconcile_order(factory, pay, order_no, now) for order_no in orders)
    settled += sum(_reconcile_refund(factory, pay, out_refund_no, now) for out_refund_no in refunds)
    return settled


def _reconcile_order(factory: sessionmaker[Session], pay: WeChatPay, order_no: str, now: datetime) -> bool:
    try:
        found = pay.query(order_no)
    except PayError as exc:
        log.info("reconcile %s: %s", order_no, exc)
        return False
    if found.trade_state not in PAID_STATES:
        return False
    result = receive_payment_notice(factory, pay=pay, notice=found, source="query", now=now)
    log.warning("reconcile %s: paid but never notified; %s", order_no, result.outcome)
    return result.outcome in (ApplyOutcome.APPLIED, ApplyOutcome.LATE_REAPPLIED, ApplyOutcome.LATE_REFUNDING)


def _reconcile_refund(factory: sessionmaker[Session], pay: WeChatPay, out_refund_no: str, now: datetime) -> bool:
    try:
        found = pay.query_refund(out_refund_no)
    except PayUnavailable:
        return False
    except PayError as exc:
        log.info("reconcile refund %s: %s", out_refund_no, exc)
        return False
    if found.status == "PROCESSING":
        return False
    with transaction(factory) as session:
        settle_refund(session, out_refund_no=out_refund_no, status=found.status, refund_id=found.refund_id,
                      amount_fen=found.amount_refund, now=now)
    return True
