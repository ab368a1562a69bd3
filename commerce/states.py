"""Order states and the one table of allowed transitions.

Refunds: partial refunds are refund rows with amounts; the order stays in its state while they are
made. A refund that brings the refunded total to the order amount moves the order to `refunding`
and, once WeChat Pay confirms it, to `refunded`. A customer's refund request also moves it to
`refunding`; staff answer it by refunding (all or part) or by declining.

An order leaves `refunding` once no refund is on its way and the refunds made since it became
`refunding` have settled: to `refunded` if every fen paid is back; else to the state it was in
before (`Order.resume_status`) with `refunded_fen` counting what came back and an
`order_partly_refunded` event (a request answered with part of the money), or, if those refunds all
failed, with their `refund_failed` events and alerts and an `order_not_refunded` event. Staff
declining sends it back too, with a `refund_declined` event. Going back never records the event of
the state it lands in (`order_paid`, `order_shipped` ...): the customer was told of that state when
the order first reached it, and would be told again. It is then refundable again: staff may refund
more, the customer may ask again. A refund made before the order became `refunding` does not answer
the request: its settling leaves it with staff.

The clocks stand still while an order is `refunding`. A shipped order counts as delivered
`auto_deliver_days` after shipping, and a delivered one is completed `auto_complete_days` after
delivery, neither counting the time spent `refunding` since: an order that goes back after a
dispute has the days it had left when the dispute began (as on the common Chinese platforms, where a
refund request pauses the confirm-receipt countdown), so the customer loses no time to receive or
inspect the goods while staff decide. The time refunding is read from the `order_events` audit
trail (each departure for `refunding` and the return from it), not stored; `shipped_at` and
`delivered_at` keep the true times.
"""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransition


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"  # placed, stock reserved, waiting for WeChat Pay
    PAID = "paid"  # payment applied; waiting to be shipped
    SHIPPED = "shipped"  # handed to a carrier (carrier + tracking number recorded)
    DELIVERED = "delivered"  # received (the customer's confirmation, or auto_deliver_days not counting refunding)
    COMPLETED = "completed"  # closed after auto_complete_days (not counting refunding); after-sale refunds possible
    CANCELLED = "cancelled"  # never paid (cancelled or expired); stock released
    REFUNDING = "refunding"  # a full refund is requested or on its way
    REFUNDED = "refunded"  # every fen paid has been returned


S = OrderStatus

# Every transition the commerce core may make; anything else raises IllegalTransition.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.REFUNDING}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDING}),
    S.DELIVERED: frozenset({S.COMPLETED, S.REFUNDING}),
    S.COMPLETED: frozenset({S.REFUNDING}),
    # Back to where it was when a refund is declined, fails or returns only part of the money;
    # forward when every fen is back.
    S.REFUNDING: frozenset({S.REFUNDED, S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED}),
    # A payment that arrives after expiry is applied if the stock can be reserved again.
    S.CANCELLED: frozenset({S.PAID}),
    S.REFUNDED: frozenset(),
}

# States from which a refund may start (the order has been paid and not fully refunded).
REFUNDABLE = frozenset({S.PAID, S.SHIPPED, S.DELIVERED, S.COMPLETED, S.REFUNDING})


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def check_transition(order_no: str, current: OrderStatus, target: OrderStatus) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(order_no, current.value, target.value)


class RefundStatus(StrEnum):
    PENDING = "pending"  # recorded, not yet accepted by WeChat Pay (submitted after commit, retried)
    PROCESSING = "processing"  # accepted by WeChat Pay, money on its way
    SUCCEEDED = "succeeded"  # WeChat Pay confirmed the money returned
    FAILED = "failed"  # refused, closed or abnormal; needs staff


class EventKind(StrEnum):
    """Domain events written to the outbox in the transaction that caused them."""

    ORDER_PLACED = "order_placed"
    ORDER_PAID = "order_paid"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_COMPLETED = "order_completed"
    REFUND_REQUESTED = "refund_requested"  # the customer asked for a refund
    REFUND_STARTED = "refund_started"  # a refund row was created (full or partial)
    REFUND_SUCCEEDED = "refund_succeeded"  # money returned (partial or full)
    REFUND_FAILED = "refund_failed"
    ORDER_REFUNDED = "order_refunded"  # the whole order has been refunded
    ORDER_PARTLY_REFUNDED = "order_partly_refunded"  # refunding ended with part of the money back; order resumed
    ORDER_NOT_REFUNDED = "order_not_refunded"  # refunding ended with nothing back (its refunds failed); order resumed
    REFUND_DECLINED = "refund_declined"  # staff turned the customer's refund request down; order resumed
    LATE_PAYMENT_REFUNDED = "late_payment_refunded"  # paid after expiry with no stock left
    PAYMENT_ALERT = "payment_alert"  # a notice that did not match its order


# The events that may say why a refunding order goes back to where it was (see the module's docstring).
RESUMING_EVENTS = frozenset({EventKind.ORDER_PARTLY_REFUNDED, EventKind.ORDER_NOT_REFUNDED, EventKind.REFUND_DECLINED})
