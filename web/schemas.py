"""JSON bodies of commerce records (catalog, carts, orders) that the mini-program and staff APIs share;
they are also their OpenAPI schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# Row ids are 32-bit integer columns: a larger id, offset or count in a request is refused (422), never passed
# to the database (SQLite cannot even bind past 64 bits: a 500).
MAX_INT = 2**31 - 1


class StrictBody(BaseModel):
    # Unknown members are refused: a misspelt field must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


# ----- catalog -------------------------------------------------------------------------------


class SkuOut(BaseModel):
    sku_id: str
    specs: dict[str, str]
    price_fen: int
    stock: int


class ProductOut(BaseModel):
    id: str
    title: str
    category: str
    description: str
    images: list[str]
    skus: list[SkuOut]


class ProductPage(BaseModel):
    products: list[ProductOut]
    total: int
    limit: int
    offset: int


# ----- cart ----------------------------------------------------------------------------------


class CartItemIn(StrictBody):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, description="at most orders.max_quantity per line")


class CartQuantityIn(StrictBody):
    quantity: int = Field(ge=0, description="0 removes the line; at most orders.max_quantity")


class LineOut(BaseModel):
    """A SKU and how many: a cart line, or an order's item as it was bought."""

    sku_id: str
    product_id: str
    title: str
    specs: dict[str, str]
    price_fen: int
    quantity: int


class CartLineOut(LineOut):
    subtotal_fen: int
    in_stock: int
    available: bool = Field(description="false when the SKU was taken off sale; checkout refuses it")


class CartOut(BaseModel):
    lines: list[CartLineOut]
    quantity: int
    total_fen: int


# ----- checkout and orders -------------------------------------------------------------------


class Address(StrictBody):
    """Where to ship; the commerce core checks lengths and the phone number (422 naming the field)."""

    name: str
    phone: str
    province: str | None = None
    city: str | None = None
    district: str | None = None
    detail: str
    postal_code: str | None = None


class CheckoutItemIn(StrictBody):
    sku_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, description="at most orders.max_quantity")


class CheckoutIn(StrictBody):
    address: Address
    items: list[CheckoutItemIn] | None = Field(
        None, min_length=1, max_length=50,
        description="what to order, distinct SKUs (the ticked cart lines, or the one SKU of 立即购买); their "
                    "cart lines are removed whole and the other lines stay. Omitted: the whole cart, which is "
                    "emptied. A SKU need not be in the cart.",
    )
    keep_cart: bool = Field(
        False, description="with `items`, leave the cart exactly as it was (立即购买 of a SKU that is also "
                           "in the cart keeps that line)",
    )


class CheckoutOut(BaseModel):
    order_no: str
    amount_fen: int
    status: str
    expires_at: datetime
    pay_params: dict[str, str] = Field(description="pass to wx.requestPayment as they are")


class PayParamsOut(BaseModel):
    order_no: str
    pay_params: dict[str, str]


class RefundRequestIn(StrictBody):
    reason: str = Field(min_length=1, max_length=120)


class RefundOut(BaseModel):
    out_refund_no: str
    amount_fen: int
    status: str
    reason: str


class OrderOut(BaseModel):
    order_no: str
    status: str
    amount_fen: int
    refunded_fen: int
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    carrier: str | None
    tracking_no: str | None
    address: dict[str, str]
    items: list[LineOut]
    refunds: list[RefundOut]


class OrderPage(BaseModel):
    orders: list[OrderOut]
    limit: int
    offset: int
