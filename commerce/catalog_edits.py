"""The back office's edits of the catalog: products and SKUs added and changed, prices set in yuan, and
stock set to what is on hand without ever going below what orders awaiting payment hold.

Stock is taken from `Sku.stock` when an order is placed (`commerce.orders.reserve_stock`) and given back
if it is cancelled or expires: `Sku.stock` is what customers can still buy. The units of orders still
`pending_payment` are *reserved*: still in the shop, but promised. Staff count what is on hand, so the
figure they read and write is on hand = available + reserved; writing N leaves N - reserved available,
and an N below the reserved units is refused (those customers may still pay).

Messages are in Chinese: their only reader is the store's staff, in the console.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ScalarSelect, func, select, update
from sqlalchemy.orm import Session

from storage.clock import utcnow

from .catalog import ID_PATTERN, MAX_CATEGORY, MAX_PRICE_FEN, MAX_SPEC, MAX_STOCK, MAX_TITLE
from .errors import InvalidInput, NotFound
from .models import Order, OrderItem, Product, Sku
from .states import OrderStatus

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 2000
MAX_SPECS = 10  # a SKU's named specs (颜色, 尺码 ...)
MAX_SPEC_NAME = 20
YUAN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")
# Characters no spreadsheet (the catalog's export) and no mini-program page can show; tab and newline pass.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class StockBelowReserved(InvalidInput):
    """A stock figure below the units that orders awaiting payment hold."""

    def __init__(self, sku_id: str, *, stock: int, reserved: int) -> None:
        super().__init__(f"SKU {sku_id} 有 {reserved} 件被待付款订单占用，库存不能改为 {stock}（至少 {reserved}）",
                         field="stock")
        self._details.update(sku_id=sku_id, reserved=reserved)
        self.reserved = reserved


# ----- checking values -----------------------------------------------------------------------------


def clean_id(value: Any, field: str) -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not ID_PATTERN.match(text):
        raise InvalidInput(f"{field} 须为 1-64 个字母、数字、_ 或 -", field=field)
    return text


def clean_text(value: Any, field: str, *, limit: int, required: bool = True) -> str:
    text = value.strip() if isinstance(value, str) else None
    if text is None or (required and not text):
        raise InvalidInput(f"{field} 不能为空", field=field)
    if len(text) > limit:
        raise InvalidInput(f"{field} 最多 {limit} 个字", field=field)
    if CONTROL_CHARACTERS.search(text):
        raise InvalidInput(f"{field} 含有不可见的控制字符", field=field)
    return text


def clean_title(value: Any) -> str:
    return clean_text(value, "title", limit=MAX_TITLE)


def clean_category(value: Any) -> str:
    return clean_text(value, "category", limit=MAX_CATEGORY)


def clean_description(value: Any) -> str:
    return clean_text(value, "description", limit=MAX_DESCRIPTION, required=False)


def clean_specs(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidInput("specs 须为 名称→值，如 颜色=红色", field="specs")
    if len(value) > MAX_SPECS:
        raise InvalidInput(f"specs 最多 {MAX_SPECS} 项", field="specs")
    specs: dict[str, str] = {}
    for name, spec in value.items():
        key, text = str(name).strip(), str(spec).strip() if isinstance(spec, str | int) else ""
        if not key or len(key) > MAX_SPEC_NAME or not text or len(text) > MAX_SPEC:
            raise InvalidInput(f"specs 的名称最多 {MAX_SPEC_NAME} 个字、值最多 {MAX_SPEC} 个字，都不能为空",
                               field="specs")
        specs[key] = text
    return specs


def yuan_to_fen(value: Any, field: str = "price_yuan") -> int:
    """A price typed in yuan ("259", "259.9", 19.99 from a spreadsheet) as whole fen, exactly.

    Decimal, never float arithmetic: 19.99 * 100 is 1998.9999999999998 in binary floating point.
    A float cell is read through its shortest repr, which is the decimal the person typed.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise InvalidInput(f"{field} 须为金额（元），如 259.00", field=field)
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    else:
        text = str(value).strip().lstrip("¥￥").removesuffix("元").strip()
    if text.startswith("-"):
        raise InvalidInput(f"{field} 不能为负数（填的是 {text}）", field=field)
    if not YUAN.match(text):
        raise InvalidInput(f"{field} 须为金额（元），最多两位小数，如 259.00，而不是 {text!r}", field=field)
    amount = Decimal(text)
    fen = int(amount * 100)
    if not 1 <= fen <= MAX_PRICE_FEN:
        raise InvalidInput(f"{field} 须在 0.01 到 {MAX_PRICE_FEN // 100} 元之间", field=field)
    return fen


def clean_stock(value: Any, field: str = "stock") -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet's 12.0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} 须为整数件数", field=field)
    if not 0 <= value <= MAX_STOCK:
        raise InvalidInput(f"{field} 须在 0 到 {MAX_STOCK} 之间", field=field)
    return value


# ----- reserved units ------------------------------------------------------------------------------


def _reserved_of(sku_id: str) -> ScalarSelect[Any]:
    """The units of one SKU in orders awaiting payment, as SQL (evaluated inside the UPDATE)."""
    return (
        select(func.coalesce(func.sum(OrderItem.quantity), 0))
        .join(Order, Order.order_no == OrderItem.order_no)
        .where(Order.status == OrderStatus.PENDING_PAYMENT.value, OrderItem.sku_id == sku_id)
        .scalar_subquery()
    )


def reserved_units(session: Session, sku_ids: Collection[str] | None = None) -> dict[str, int]:
    """sku_id → units in orders awaiting payment (SKUs with none are left out); None: every SKU."""
    query = (
        select(OrderItem.sku_id, func.sum(OrderItem.quantity))
        .join(Order, Order.order_no == OrderItem.order_no)
        .where(Order.status == OrderStatus.PENDING_PAYMENT.value)
        .group_by(OrderItem.sku_id)
    )
    if sku_ids is not None:
        if not sku_ids:
            return {}
        query = query.where(OrderItem.sku_id.in_(sorted(sku_ids)))
    return {sku_id: int(units) for sku_id, units in session.execute(query)}


@dataclass(frozen=True)
class StockLevel:
    sku_id: str
    on_hand: int  # what staff count: available + reserved
    reserved: int  # in orders awaiting payment
    available: int  # what customers can still buy (Sku.stock)


def set_stock_on_hand(session: Session, *, sku_id: str, stock: int) -> StockLevel:
    """Set a SKU's units on hand; refused (StockBelowReserved) below what orders awaiting payment hold.

    The SKU's row is locked first: a checkout or a cancellation changes that row too, so none can
    slip between the count of reserved units and the write. The write is one conditional UPDATE that
    counts the reserved units itself: no figure is read into Python and written back.
    """
    stock = clean_stock(stock)
    if session.execute(select(Sku.sku_id).where(Sku.sku_id == sku_id).with_for_update()).first() is None:
        raise NotFound(f"没有 SKU {sku_id}", sku_id=sku_id)
    reserved = _reserved_of(sku_id)
    row = session.execute(
        update(Sku).where(Sku.sku_id == sku_id, reserved <= stock).values(stock=stock - reserved)
        .returning(Sku.stock).execution_options(synchronize_session=False)
    ).first()
    if row is None:
        held = reserved_units(session, [sku_id]).get(sku_id, 0)
        log.info("stock of %s not set to %d: %d units reserved", sku_id, stock, held)
        raise StockBelowReserved(sku_id, stock=stock, reserved=held)
    available = int(row[0])
    session.expire_all()  # ORM copies of the SKU hold the old figure
    log.info("stock of %s set to %d on hand (%d available)", sku_id, stock, available)
    return StockLevel(sku_id, stock, stock - available, available)


# ----- products and SKUs ---------------------------------------------------------------------------


def find_product(session: Session, product_id: str) -> Product:
    """A product on sale or not (the back office sees both)."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"没有商品 {product_id}", product_id=product_id)
    return product


def find_sku(session: Session, sku_id: str) -> Sku:
    sku = session.get(Sku, sku_id)
    if sku is None:
        raise NotFound(f"没有 SKU {sku_id}", sku_id=sku_id)
    return sku


@dataclass(frozen=True)
class NewSku:
    sku_id: str
    specs: dict[str, str]
    price_fen: int
    stock: int  # on hand; a new SKU has nothing reserved
    on_sale: bool = True


def add_product(
    session: Session, *, product_id: str, title: str, category: str, description: str, first_sku: NewSku,
    on_sale: bool = True, now: datetime | None = None,
) -> Product:
    """A new product with its first SKU (a product without one could not be bought)."""
    product_id = clean_id(product_id, "id")
    if session.get(Product, product_id) is not None:
        raise InvalidInput(f"商品编号 {product_id} 已存在", field="id")
    at = now or utcnow()
    last = session.scalar(select(func.max(Product.position)))
    product = Product(id=product_id, title=clean_title(title), category=clean_category(category),
                      description=clean_description(description), images=[], active=on_sale,
                      position=(last or 0) + 1, created_at=at, updated_at=at)
    session.add(product)
    session.flush()
    add_sku(session, product_id=product_id, sku=first_sku, field_prefix="sku.")
    log.info("product %s added", product_id)
    return product


def edit_product(
    session: Session, *, product_id: str, title: str | None = None, category: str | None = None,
    description: str | None = None, on_sale: bool | None = None, now: datetime | None = None,
) -> Product:
    """Change what is given (None: keep). Off sale, customers no longer find or buy it."""
    product = find_product(session, product_id)
    if title is not None:
        product.title = clean_title(title)
    if category is not None:
        product.category = clean_category(category)
    if description is not None:
        product.description = clean_description(description)
    if on_sale is not None:
        product.active = on_sale
    product.updated_at = now or utcnow()
    session.flush()
    return product


def add_sku(session: Session, *, product_id: str, sku: NewSku, field_prefix: str = "") -> Sku:
    product = find_product(session, product_id)
    sku_id = clean_id(sku.sku_id, field_prefix + "sku_id")
    owner = session.scalar(select(Sku.product_id).where(Sku.sku_id == sku_id))
    if owner is not None:
        raise InvalidInput(f"SKU 编号 {sku_id} 已被商品 {owner} 使用", field=field_prefix + "sku_id")
    if not 1 <= sku.price_fen <= MAX_PRICE_FEN:
        raise InvalidInput("价格须在 0.01 到 1000000 元之间", field=field_prefix + "price_yuan")
    last = session.scalar(select(func.max(Sku.position)).where(Sku.product_id == product.id))
    row = Sku(sku_id=sku_id, product_id=product.id, specs=clean_specs(sku.specs), price_fen=sku.price_fen,
              stock=clean_stock(sku.stock, field_prefix + "stock"), active=sku.on_sale,
              position=0 if last is None else last + 1)
    session.add(row)
    session.flush()
    log.info("SKU %s added to %s", sku_id, product.id)
    return row


def edit_sku(
    session: Session, *, sku_id: str, price_fen: int | None = None, specs: Mapping[str, Any] | None = None,
    on_sale: bool | None = None,
) -> Sku:
    """Change a SKU's price, specs or sale (orders already placed keep the price they were placed at)."""
    sku = find_sku(session, sku_id)
    if price_fen is not None:
        if isinstance(price_fen, bool) or not 1 <= price_fen <= MAX_PRICE_FEN:
            raise InvalidInput("价格须在 0.01 到 1000000 元之间", field="price_yuan")
        sku.price_fen = price_fen
    if specs is not None:
        sku.specs = clean_specs(specs)
    if on_sale is not None:
        sku.active = on_sale
    session.flush()
    return sku
