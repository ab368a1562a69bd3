"""The commerce core's errors: one hierarchy, each with a stable `code` and an HTTP status hint.

Transports map these to responses in one place (the mini-program API, the admin API, the CLI);
the domain never knows about HTTP beyond the hint.
"""

from __future__ import annotations

from collections.abc import Sequence


class CommerceError(Exception):
    """Base of every refusal by the commerce core; nothing was changed."""

    code = "COMMERCE_ERROR"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, object]:
        """Machine-readable extras for the response body (beyond code and message)."""
        return {}


class InvalidInput(CommerceError):
    """The request breaks a rule (bad quantity, missing address field, bad catalog row ...)."""

    code = "INVALID_INPUT"
    http_status = 422

    def __init__(self, message: str, *, field: str | None = None, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.errors = list(errors) or [message]

    def details(self) -> dict[str, object]:
        extra: dict[str, object] = {"errors": self.errors}
        if self.field:
            extra["field"] = self.field
        return extra


class NotFound(CommerceError):
    """No such product, SKU or order (another customer's order is also "not found")."""

    code = "NOT_FOUND"
    http_status = 404


class OutOfStock(CommerceError):
    """A SKU has fewer units than asked for; the order was not placed."""

    code = "OUT_OF_STOCK"
    http_status = 409

    def __init__(self, sku_id: str) -> None:
        super().__init__(f"SKU {sku_id} is out of stock")
        self.sku_id = sku_id

    def details(self) -> dict[str, object]:
        return {"sku_id": self.sku_id}


class EmptyCart(CommerceError):
    code = "EMPTY_CART"
    http_status = 409


class IllegalTransition(CommerceError):
    """The order's state does not allow this operation (e.g. shipping an unpaid order)."""

    code = "ILLEGAL_TRANSITION"
    http_status = 409

    def __init__(self, order_no: str, current: str, target: str) -> None:
        super().__init__(f"order {order_no} is {current}; it cannot become {target}")
        self.order_no = order_no
        self.current = current
        self.target = target

    def details(self) -> dict[str, object]:
        return {"order_no": self.order_no, "status": self.current, "target": self.target}


class RefundRefused(CommerceError):
    """A refund that cannot be made: more than what is left to refund, or nothing paid."""

    code = "REFUND_REFUSED"
    http_status = 409
