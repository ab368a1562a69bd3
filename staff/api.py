"""The staff API under /admin/: orders by status, shipping, refunds, stock, alerts, logins.

Every route needs the API key (`staff.auth`); with no key configured the whole API answers 503.
The operations are the commerce core's, the same the CLI runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.logins import revoke_customer_sessions
from commerce.alerts import open_alerts
from commerce.catalog import adjust_stock, set_stock
from commerce.models import Order
from commerce.orders import decline_refund, get_order, order_history, ship_order
from commerce.refunds import refund_and_submit
from commerce.states import OrderStatus
from staff.auth import admin_key_dependency
from staff.config import AdminConfig
from storage.clock import utcnow
from storage.db import transaction
from web.errors import PaymentUnavailable
from web.json_api import ERROR_RESPONSES, bounded_route
from web.schemas import MAX_INT, OrderOut, StrictBody
from web.views import order_view
from wechat.pay import WeChatPay


@dataclass(frozen=True)
class AdminApi:
    factory: sessionmaker[Session]
    pay: WeChatPay | None  # refunds are recorded without it, and submitted once it is configured
    config: AdminConfig
    max_body_bytes: int = 16384


class ShipIn(StrictBody):
    carrier: str = Field(min_length=1, max_length=40)
    tracking_no: str = Field(min_length=4, max_length=40)


class RefundIn(StrictBody):
    amount_fen: int | None = Field(None, ge=1, description="omit to refund all that is left")
    reason: str = Field(min_length=1, max_length=80)


class ReasonIn(StrictBody):
    reason: str = Field(min_length=1, max_length=120)


class StockIn(StrictBody):
    stock: int = Field(ge=0, description="the counted number of units")


class StockDeltaIn(StrictBody):
    delta: int = Field(description="units added (negative: removed); never below zero")


class StockOut(BaseModel):
    sku_id: str
    stock: int


class RefundDone(BaseModel):
    out_refund_no: str
    amount_fen: int
    refund_status: str
    order: OrderOut


class OrderEventOut(BaseModel):
    from_status: str | None
    to_status: str
    reason: str
    actor: str
    created_at: datetime


class AdminOrderOut(OrderOut):
    openid: str
    transaction_id: str | None
    events: list[OrderEventOut]


class AdminOrderPage(BaseModel):
    orders: list[OrderOut]
    limit: int
    offset: int


class AlertOut(BaseModel):
    id: int
    kind: str
    order_no: str | None
    transaction_id: str | None
    detail: str
    created_at: datetime


class RevokedOut(BaseModel):
    openid: str
    revoked: int


def build_admin_router(api: AdminApi) -> APIRouter:
    router = APIRouter(
        prefix="/admin", tags=["admin"], route_class=bounded_route(api.max_body_bytes),
        dependencies=[Depends(admin_key_dependency(api.config))], responses=ERROR_RESPONSES,
    )
    _add_order_routes(router, api)
    _add_stock_routes(router, api)
    return router


def _add_order_routes(router: APIRouter, api: AdminApi) -> None:
    @router.get("/orders", response_model=AdminOrderPage, summary="Orders by status, newest first")
    def orders(
        status: OrderStatus | None = None, limit: int = Query(50, ge=1, le=200),
        offset: int = Query(0, ge=0, le=MAX_INT),
    ) -> AdminOrderPage:
        with api.factory() as session:
            found = _orders_by_status(session, status, limit, offset)
            return AdminOrderPage(orders=[order_view(o) for o in found], limit=limit, offset=offset)

    @router.get("/orders/{order_no}", response_model=AdminOrderOut, summary="One order with its history")
    def order(order_no: str) -> AdminOrderOut:
        with api.factory() as session:
            return _admin_view(session, get_order(session, order_no=order_no))

    @router.post("/orders/{order_no}/ship", response_model=OrderOut, summary="Ship a paid order")
    def ship(order_no: str, body: ShipIn) -> OrderOut:
        with transaction(api.factory) as session:
            return order_view(ship_order(session, order_no=order_no, carrier=body.carrier,
                                         tracking_no=body.tracking_no, now=utcnow()))

    @router.post("/orders/{order_no}/refund", response_model=RefundDone, summary="Refund all or part of an order")
    def refund(order_no: str, body: RefundIn) -> RefundDone:
        if api.pay is None:
            raise PaymentUnavailable("WeChat Pay is not configured on this store", order_no=order_no)
        made = refund_and_submit(api.factory, pay=api.pay, order_no=order_no, amount_fen=body.amount_fen,
                                 reason=body.reason, actor="staff", now=utcnow())
        with api.factory() as session:
            view = order_view(get_order(session, order_no=order_no))
        return RefundDone(out_refund_no=made.out_refund_no, amount_fen=made.amount_fen, refund_status=made.status,
                          order=view)

    @router.post("/orders/{order_no}/decline-refund", response_model=OrderOut,
                 summary="Turn down a customer's refund request")
    def decline(order_no: str, body: ReasonIn) -> OrderOut:
        with transaction(api.factory) as session:
            return order_view(decline_refund(session, order_no=order_no, reason=body.reason, now=utcnow()))

    @router.get("/alerts", response_model=list[AlertOut], summary="Open payment alerts")
    def alerts(limit: int = Query(100, ge=1, le=500)) -> list[AlertOut]:
        with api.factory() as session:
            return [AlertOut(id=a.id, kind=a.kind, order_no=a.order_no, transaction_id=a.transaction_id,
                             detail=a.detail, created_at=a.created_at) for a in open_alerts(session, limit=limit)]

    @router.post("/customers/{openid}/revoke-logins", response_model=RevokedOut,
                 summary="End every mini-program login of a customer")
    def revoke_logins(openid: str) -> RevokedOut:
        with transaction(api.factory) as session:
            return RevokedOut(openid=openid, revoked=revoke_customer_sessions(session, openid=openid, now=utcnow()))


def _add_stock_routes(router: APIRouter, api: AdminApi) -> None:
    @router.put("/skus/{sku_id}/stock", response_model=StockOut, summary="Set a SKU's stock (stocktaking)")
    def put_stock(sku_id: str, body: StockIn) -> StockOut:
        with transaction(api.factory) as session:
            return StockOut(sku_id=sku_id, stock=set_stock(session, sku_id=sku_id, stock=body.stock))

    @router.post("/skus/{sku_id}/stock-adjustments", response_model=StockOut, summary="Add or remove units")
    def adjust(sku_id: str, body: StockDeltaIn) -> StockOut:
        with transaction(api.factory) as session:
            return StockOut(sku_id=sku_id, stock=adjust_stock(session, sku_id=sku_id, delta=body.delta))


def _orders_by_status(session: Session, status: OrderStatus | None, limit: int, offset: int) -> list[Order]:
    query = select(Order)
    if status is not None:
        query = query.where(Order.status == status.value)
    query = query.order_by(Order.created_at.desc(), Order.order_no.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def _admin_view(session: Session, order: Order) -> AdminOrderOut:
    events = [OrderEventOut(from_status=e.from_status, to_status=e.to_status, reason=e.reason, actor=e.actor,
                            created_at=e.created_at) for e in order_history(session, order_no=order.order_no)]
    return AdminOrderOut(**order_view(order).model_dump(), openid=order.openid,
                         transaction_id=order.transaction_id, events=events)
