"""Carts: one per customer (openid), a line per SKU."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.clock import utcnow
from storage.sql import affected_rows

from .config import OrdersConfig
from .errors import InvalidInput, NotFound
from .models import CartItem, Product, Sku

log = logging.getLogger(__name__)
DEFAULT_CONFIG = OrdersConfig()


@dataclass(frozen=True)
class CartLine:
    sku_id: str
    product_id: str
    title: str
    specs: dict[str, str]
    price_fen: int
    quantity: int
    in_stock: int  # units available right now (not reserved: checkout reserves)
    available: bool  # False when the SKU or product was taken off sale

    @property
    def subtotal_fen(self) -> int:
        return self.price_fen * self.quantity


@dataclass(frozen=True)
class Cart:
    openid: str
    lines: list[CartLine]

    @property
    def total_fen(self) -> int:
        return sum(line.subtotal_fen for line in self.lines if line.available)

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


def _check_openid(openid: str) -> None:
    if not isinstance(openid, str) or not 1 <= len(openid) <= 64:
        raise InvalidInput("openid must be 1-64 characters", field="openid")


def _check_quantity(quantity: int, config: OrdersConfig, *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not low <= quantity <= config.max_quantity:
        raise InvalidInput(f"quantity must be {low}-{config.max_quantity}", field="quantity")


def _sku_on_sale(session: Session, sku_id: str) -> Sku:
    sku = session.get(Sku, sku_id) if isinstance(sku_id, str) else None
    if sku is None or not sku.active or not sku.product.active:
        raise NotFound(f"no SKU {sku_id}")
    return sku


def add_to_cart(
    session: Session, *, openid: str, sku_id: str, quantity: int,
    config: OrdersConfig = DEFAULT_CONFIG, now: datetime | None = None,
) -> Cart:
    """Add units of a SKU (to an existing line, capped at max_quantity)."""
    _check_openid(openid)
    _check_quantity(quantity, config, allow_zero=False)
    _sku_on_sale(session, sku_id)
    now = now or utcnow()
    line = session.get(CartItem, (openid, sku_id))
    if line is None:
        _check_cart_size(session, openid, config)
        session.add(CartItem(openid=openid, sku_id=sku_id, quantity=quantity, added_at=now, updated_at=now))
    else:
        line.quantity = min(line.quantity + quantity, config.max_quantity)
        line.updated_at = now
    session.flush()
    return get_cart(session, openid=openid)


def _check_cart_size(session: Session, openid: str, config: OrdersConfig) -> None:
    lines = session.scalar(select(func.count()).select_from(CartItem).where(CartItem.openid == openid)) or 0
    if lines >= config.max_cart_lines:
        raise InvalidInput(f"a cart holds at most {config.max_cart_lines} different items", field="sku_id")


def set_cart_quantity(
    session: Session, *, openid: str, sku_id: str, quantity: int,
    config: OrdersConfig = DEFAULT_CONFIG, now: datetime | None = None,
) -> Cart:
    """Set a line's quantity; 0 removes the line. The line must already be in the cart."""
    _check_openid(openid)
    _check_quantity(quantity, config, allow_zero=True)
    if quantity == 0:
        return remove_from_cart(session, openid=openid, sku_id=sku_id)
    line = session.get(CartItem, (openid, sku_id))
    if line is None:
        raise NotFound(f"SKU {sku_id} is not in the cart")
    line.quantity, line.updated_at = quantity, now or utcnow()
    session.flush()
    return get_cart(session, openid=openid)


def remove_from_cart(session: Session, *, openid: str, sku_id: str) -> Cart:
    _check_openid(openid)
    result = session.execute(delete(CartItem).where(CartItem.openid == openid, CartItem.sku_id == sku_id))
    if affected_rows(result) != 1:
        raise NotFound(f"SKU {sku_id} is not in the cart")
    return get_cart(session, openid=openid)


def clear_cart(session: Session, *, openid: str) -> None:
    session.execute(delete(CartItem).where(CartItem.openid == openid))


def get_cart(session: Session, *, openid: str) -> Cart:
    _check_openid(openid)
    rows = session.execute(
        select(CartItem, Sku, Product)
        .join(Sku, Sku.sku_id == CartItem.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(CartItem.openid == openid)
        .order_by(CartItem.added_at, CartItem.sku_id)
    ).all()
    lines = [
        CartLine(
            sku_id=sku.sku_id, product_id=product.id, title=product.title, specs=dict(sku.specs),
            price_fen=sku.price_fen, quantity=item.quantity, in_stock=sku.stock,
            available=sku.active and product.active,
        )
        for item, sku, product in rows
    ]
    return Cart(openid=openid, lines=lines)
