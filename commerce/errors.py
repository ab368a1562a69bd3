"""The commerce core's errors: one hierarchy, each with a stable `code`, a `message` and `details()`.

Transports map these to responses in one place each (`web.json_api` for the JSON APIs, the CLI's
guard); the domain knows nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from foundation.errors import ChatshopError


class CommerceError(ChatshopError):
    """Base of every refusal by the commerce core; nothing was changed."""

    code = "COMMERCE_ERROR"


class InvalidInput(CommerceError):
    """The request breaks a rule (bad quantity, missing address field, bad catalog row ...)."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, field: str | None = None, errors: Sequence[str] = ()) -> None:
        self.field = field
        self.errors = list(errors) or [message]
        super().__init__(message, errors=self.errors, field=field or None)


class NotFound(CommerceError):
    """No such product, SKU or order (another customer's order is also "not found")."""

    code = "NOT_FOUND"


class OutOfStock(CommerceError):
    """A SKU has fewer units than asked for; the order was not placed."""

    code = "OUT_OF_STOCK"

    def __init__(self, sku_id: str) -> None:
        super().__init__(f"SKU {sku_id} is out of stock", sku_id=sku_id)
        self.sku_id = sku_id


class EmptyCart(CommerceError):
    code = "EMPTY_CART"


class IllegalTransition(CommerceError):
    """The order's state does not allow this operation (e.g. shipping an unpaid order)."""

    code = "ILLEGAL_TRANSITION"

    def __init__(self, order_no: str, current: str, target: str) -> None:
        super().__init__(f"order {order_no} is {current}; it cannot become {target}",
                         order_no=order_no, status=current, target=target)
        self.order_no, self.current, self.target = order_no, current, target


class RefundRefused(CommerceError):
    """A refund that cannot be made: more than what is left to refund, or nothing paid."""

    code = "REFUND_REFUSED"
