"""The mini-program's JSON API under /mp/: login, catalog, cart, checkout, orders.

Handlers parse, call one domain operation in one transaction, and serialize; refusals are mapped
to responses by the route class (`miniprogram.http_errors`). Database work runs on FastAPI's thread
pool, so it never stalls the event loop. Calls to WeChat and WeChat Pay run on an executor of their
own (`MpApi.outbound`): a burst of logins waiting on WeChat cannot take every request thread, which
would starve everything else, including the sandbox when it is served by this same process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from bot.analytics.tracking import ProductView, record_added_to_cart, record_checkout
from bot.customers.errors import NotLoggedIn
from bot.customers.logins import authenticate, open_session, revoke_token
from commerce.cart import add_to_cart, get_cart, remove_from_cart, set_cart_quantity
from commerce.catalog import count_products, get_product, list_products, search_products
from commerce.config import OrdersConfig
from commerce.orders import get_order, list_orders, mark_delivered, place_order, request_refund
from commerce.payments import cancel_unpaid_order, prepay_order
from commerce.states import OrderStatus
from miniprogram.auth import bearer, bearer_token, customer_session
from miniprogram.config import MpApiConfig
from miniprogram.login import CodeExchange
from miniprogram.metrics import CHECKOUTS, LOGINS
from miniprogram.schemas import LoginRequest, LoginResponse, Me
from storage.clock import utcnow
from storage.db import transaction
from web.errors import PaymentUnavailable
from web.json_api import ERROR_RESPONSES, ErrorBody, bounded_route
from web.rate_limits import RateLimits, client_address, rate_limit_response
from web.schemas import (
    MAX_INT,
    CartItemIn,
    CartOut,
    CartQuantityIn,
    CheckoutIn,
    CheckoutOut,
    OrderOut,
    OrderPage,
    PayParamsOut,
    ProductOut,
    ProductPage,
    RefundRequestIn,
)
from web.views import cart_view, order_view, product_view
from wechat.errors import PayError
from wechat.login import CodeSession
from wechat.pay import WeChatPay

log = logging.getLogger(__name__)

# A default, not an Annotated alias: annotations here are strings FastAPI resolves at module level.
TOKEN = Depends(bearer_token)
LOGIN_DESCRIPTION = (
    "`code` is what `wx.login()` gave the mini-program; WeChat's `jscode2session` turns it into the "
    "customer's openid, and each code works once. With the WeChat sandbox on there is no WeChat to issue "
    "codes: the sandbox's `jscode2session` accepts any code of the form `sandbox:<openid>:<nonce>` "
    "(openid: 1-64 letters, digits, `_` or `-`; nonce: anything without spaces, a new one for every "
    "login), e.g. `sandbox:o_alice:1`, and logs that openid in."
)
PRODUCTS_DESCRIPTION = (
    "Without `q`: the products on sale in catalog order. `category` keeps those filed under that category "
    "(女装) or whose title names it (连衣裙 finds the dresses filed under 女装). With `q`: a search of the "
    "customer's words in titles and categories, synonyms and broader words included (裙子 also finds 连衣裙 "
    "and 半身裙; 有没有 and the like are left out), best match first; a product that matches none of the "
    "words is not listed, and `category` narrows the search. `total` counts every product found. Images are "
    "URLs, or paths on this service (`/images/...`) to be read against its base URL."
)
CHECKOUT_DESCRIPTION = (
    "Places an order and reserves its stock in one transaction, then asks WeChat Pay for the prepay. "
    "Without `items` the whole cart is ordered and emptied. With `items` (1-50 distinct SKUs, each "
    "with its quantity) the order holds exactly those, whether or not they are in the cart: the ticked "
    "lines of 购物车, or the one SKU of 立即购买. Each ordered SKU's cart line is then removed whole, even "
    "when it held more units than were ordered, and the other lines stay; with `keep_cart: true` "
    "(立即购买) the cart is left exactly as it was. Refusals change nothing: an unknown or off-sale SKU is "
    "404 `NOT_FOUND` with its `sku_id`, a quantity outside 1-`orders.max_quantity` or a SKU listed twice "
    "422 `INVALID_INPUT` naming the field (`items.1.quantity`), too few units 409 `OUT_OF_STOCK` with the "
    "`sku_id`, an empty cart without `items` 409 `EMPTY_CART`."
)
T = TypeVar("T")
# Records a product card a customer opened (session, openid, product id, conversation, now).
CardOpened = Callable[[Session, str, str, str | None, datetime], object]
OPTIONAL_CREDENTIALS = Depends(bearer)


@dataclass(frozen=True)
class MpApi:
    """What the API needs, built by the composition root."""

    factory: sessionmaker[Session]
    exchange_code: CodeExchange  # jscode2session
    pay: WeChatPay | None  # None: WeChat Pay is not configured, checkout answers 503
    # Blocking calls to WeChat (jscode2session) and WeChat Pay (prepay, close); its size bounds them.
    outbound: Executor
    # A customer's words as catalog search terms (intents.search, shared with the bot's product search).
    search_terms: Callable[[str], Sequence[Sequence[str]]]
    config: MpApiConfig = field(default_factory=MpApiConfig)
    orders: OrdersConfig = field(default_factory=OrdersConfig)
    clock: Callable[[], datetime] = field(default=utcnow)
    card_opened: CardOpened | None = None  # the tag rules' card_opened trigger
    # Queues a product view for the numbers without waiting (None: nothing is tracked, cart and checkout
    # included); cart and checkout events are written in the request's own transaction.
    track_view: Callable[[ProductView], None] | None = None
    limits: RateLimits | None = None  # request rate limits on login and checkout (None: none)

    async def call_wechat(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.outbound, partial(call, *args, **kwargs))

    def customer(self, token: str) -> AbstractContextManager[tuple[Session, str]]:
        """The request's transaction and the caller's openid."""
        return customer_session(self.factory, token, self.clock())

    def openid_of(self, token: str) -> str:
        """For handlers whose work runs in transactions of the commerce core's own."""
        with self.customer(token) as (_, openid):
            return openid

    def wechat_pay(self, order_no: str | None = None) -> WeChatPay:
        if self.pay is None:
            raise PaymentUnavailable("WeChat Pay is not configured on this store", order_no=order_no)
        return self.pay


def build_mp_router(api: MpApi) -> APIRouter:
    router = APIRouter(
        prefix="/mp", tags=["mini-program"], route_class=bounded_route(api.config.max_body_bytes),
        responses=ERROR_RESPONSES,
    )
    _add_session_routes(router, api)
    _add_catalog_routes(router, api)
    _add_cart_routes(router, api)
    _add_order_routes(router, api)
    return router


# What a login may answer besides the common refusals: WeChat's own refusals of the code (401 above) included.
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **rate_limit_response("RATE_LIMITED: too many logins from this address or for this customer "
                          "(rate_limits.mp_login_*), `retry_after` seconds, also in Retry-After; LOGIN_REFUSED "
                          "with `wechat_errcode` 45011: WeChat's own limit"),
    403: {"model": ErrorBody, "description": "LOGIN_REFUSED, `wechat_errcode` 40226: WeChat flagged the user"},
    502: {"model": ErrorBody, "description": "WECHAT_UNAVAILABLE: WeChat's jscode2session failed; retry"},
}


def _add_session_routes(router: APIRouter, api: MpApi) -> None:
    @router.post("/login", response_model=LoginResponse, summary="Exchange a wx.login() code for a token",
                 description=LOGIN_DESCRIPTION, responses=LOGIN_RESPONSES)
    async def login(body: LoginRequest, request: Request) -> LoginResponse:
        address = client_address(request)
        await run_in_threadpool(_check_limit, api, "mp_login", address=address)  # before WeChat is asked
        try:
            wechat = await api.call_wechat(api.exchange_code, body.code)
        except Exception:
            LOGINS.labels(result="refused").inc()
            raise
        # The customer is known once WeChat has said whose code it is; their count is kept apart.
        await run_in_threadpool(_check_limit, api, "mp_login", openid=wechat.openid)
        return await run_in_threadpool(_record_login, api, wechat)

    @router.post("/logout", status_code=204, summary="Revoke this token")
    def logout(token: str = TOKEN) -> Response:
        with api.customer(token) as (session, _):
            revoke_token(session, token=token, now=api.clock())
        return Response(status_code=204)

    @router.get("/me", response_model=Me, summary="Who this token speaks for")
    def me(token: str = TOKEN) -> Me:
        with api.customer(token) as (_, openid):
            return Me(openid=openid)


def _check_limit(api: MpApi, rule: str, *, address: str | None = None, openid: str | None = None,
                 token: str | None = None) -> None:
    """Counted on a worker thread: with Redis it is a network round trip. With `token`, the customer is the
    token's (an unknown token is refused as such first)."""
    if api.limits is None:
        return
    if token is not None:
        openid = api.openid_of(token)
    api.limits.check(rule, address=address, subject=openid)


def _record_login(api: MpApi, wechat: CodeSession) -> LoginResponse:
    now = api.clock()
    with transaction(api.factory) as session:
        token = open_session(session, login=wechat, ttl_s=api.config.session_ttl_s, now=now)
    LOGINS.labels(result="ok").inc()
    expires_at = now + timedelta(seconds=api.config.session_ttl_s)
    return LoginResponse(token=token, openid=wechat.openid, expires_at=expires_at)


def _add_catalog_routes(router: APIRouter, api: MpApi) -> None:
    @router.get("/products", response_model=ProductPage, summary="Products on sale, or those a search finds",
                description=PRODUCTS_DESCRIPTION)
    def products(
        q: str | None = Query(None, max_length=100, description="words to search for (有没有裙子): best match first"),
        category: str | None = Query(None, max_length=40, description="a category (女装) or a kind of product the "
                                     "titles name (连衣裙)"),
        limit: int = Query(20, ge=1, le=100),
        offset: int = Query(0, ge=0, le=MAX_INT),
    ) -> ProductPage:
        with api.factory() as session:
            if q and q.strip():
                matches = search_products(session, api.search_terms(q), category=category, limit=limit, offset=offset)
                found, total = matches.products, matches.total
            else:
                found = list_products(session, category=category, limit=limit, offset=offset)
                total = count_products(session, category=category)
            return ProductPage(products=[product_view(p) for p in found], limit=limit, offset=offset, total=total)

    @router.get("/products/{product_id}", response_model=ProductOut, summary="One product with its SKUs")
    def product(
        product_id: str,
        # A page path a store did not write (a share with its own tags) must still open the product: any
        # src that is not one of ours counts as direct; the bound only keeps a URL's worth of text out.
        src: str | None = Query(None, max_length=512, description="where the page was opened from: `card` (a "
                                "product card in a chat), `cart_reminder`, `campaign`, `share`; anything else "
                                "counts as direct"),
        conversation: str | None = Query(None, max_length=64, description="the conversation the card was sent in"),
        ref: int | None = Query(None, ge=1, le=2**31 - 1, description="the campaign (`c=`) or reminder (`r=`) id"),
        credentials: HTTPAuthorizationCredentials | None = OPTIONAL_CREDENTIALS,
    ) -> ProductOut:
        with api.factory() as session:
            view = product_view(get_product(session, product_id))
        if api.track_view is not None:
            api.track_view(ProductView(product_id=product_id, src=src, ref_id=ref, at=api.clock(),
                                       token=credentials.credentials if credentials is not None else None))
        if src == "card" and credentials is not None:
            _record_card_open(api, credentials.credentials, product_id, conversation)
        return view


def _record_card_open(api: MpApi, token: str, product_id: str, conversation: str | None) -> None:
    """Only for a logged-in customer; the token is optional here, so a stale one is no refusal."""
    if api.card_opened is None:
        return
    now = api.clock()
    with transaction(api.factory) as session:
        try:
            openid = authenticate(session, token=token, now=now)
        except NotLoggedIn:
            return
        api.card_opened(session, openid, product_id, conversation, now)


def _add_cart_routes(router: APIRouter, api: MpApi) -> None:
    @router.get("/cart", response_model=CartOut, summary="The customer's cart")
    def cart(token: str = TOKEN) -> CartOut:
        with api.customer(token) as (session, openid):
            return cart_view(get_cart(session, openid=openid))

    @router.post("/cart/items", response_model=CartOut, summary="Add units of a SKU")
    def add_item(body: CartItemIn, token: str = TOKEN) -> CartOut:
        with api.customer(token) as (session, openid):
            cart = add_to_cart(session, openid=openid, sku_id=body.sku_id, quantity=body.quantity, config=api.orders,
                               now=api.clock())
            if api.track_view is not None:
                record_added_to_cart(session, openid=openid, sku_id=body.sku_id, at=api.clock())
            return cart_view(cart)

    @router.patch("/cart/items/{sku_id}", response_model=CartOut, summary="Set a line's quantity (0 removes it)")
    def set_quantity(sku_id: str, body: CartQuantityIn, token: str = TOKEN) -> CartOut:
        with api.customer(token) as (session, openid):
            return cart_view(set_cart_quantity(session, openid=openid, sku_id=sku_id, quantity=body.quantity,
                                               config=api.orders, now=api.clock()))

    @router.delete("/cart/items/{sku_id}", response_model=CartOut, summary="Remove a line")
    def remove_item(sku_id: str, token: str = TOKEN) -> CartOut:
        with api.customer(token) as (session, openid):
            return cart_view(remove_from_cart(session, openid=openid, sku_id=sku_id))


def _add_order_routes(router: APIRouter, api: MpApi) -> None:
    @router.post("/checkout", response_model=CheckoutOut, status_code=201,
                 summary="Order the cart or chosen items (stock reserved) and get the params for "
                         "wx.requestPayment",
                 description=CHECKOUT_DESCRIPTION,
                 responses=rate_limit_response("RATE_LIMITED: too many checkouts from this address or by this "
                                               "customer (rate_limits.checkout_*); `retry_after` seconds, also "
                                               "in Retry-After"))
    async def checkout(body: CheckoutIn, request: Request, token: str = TOKEN) -> CheckoutOut:
        pay = api.wechat_pay()
        await run_in_threadpool(_check_limit, api, "checkout", address=client_address(request), token=token)
        try:
            placed, openid = await run_in_threadpool(_place_order, api, token, body)
        except Exception:
            CHECKOUTS.labels(result="refused").inc()
            raise
        # Committed: the stock is the customer's until the order expires. WeChat Pay is called
        # outside that transaction; if it fails, POST /mp/orders/{no}/pay tries again.
        params = await api.call_wechat(_prepay, api, pay, placed.order_no, openid)
        CHECKOUTS.labels(result="ok").inc()
        return placed.model_copy(update={"pay_params": params})

    @router.post("/orders/{order_no}/pay", response_model=PayParamsOut,
                 summary="Params for wx.requestPayment again (an unpaid order)")
    async def pay_again(order_no: str, token: str = TOKEN) -> PayParamsOut:
        pay = api.wechat_pay(order_no)
        openid = await run_in_threadpool(api.openid_of, token)
        return PayParamsOut(order_no=order_no, pay_params=await api.call_wechat(_prepay, api, pay, order_no, openid))

    @router.get("/orders", response_model=OrderPage, summary="The customer's orders, newest first")
    def orders(
        status: OrderStatus | None = None,
        limit: int = Query(20, ge=1, le=100),
        offset: int = Query(0, ge=0, le=MAX_INT),
        token: str = TOKEN,
    ) -> OrderPage:
        with api.customer(token) as (session, openid):
            found = list_orders(session, openid=openid, status=status, limit=limit, offset=offset)
            return OrderPage(orders=[order_view(o) for o in found], limit=limit, offset=offset)

    @router.get("/orders/{order_no}", response_model=OrderOut, summary="One order with its status")
    def order(order_no: str, token: str = TOKEN) -> OrderOut:
        with api.customer(token) as (session, openid):
            return order_view(get_order(session, order_no=order_no, openid=openid))

    @router.post("/orders/{order_no}/cancel", response_model=OrderOut, summary="Cancel an unpaid order")
    async def cancel(order_no: str, token: str = TOKEN) -> OrderOut:
        pay = api.wechat_pay(order_no)
        openid = await run_in_threadpool(api.openid_of, token)
        cancelled = await api.call_wechat(cancel_unpaid_order, api.factory, pay=pay, order_no=order_no,
                                          openid=openid, reason="cancelled by the customer", actor="customer",
                                          now=api.clock())
        if not cancelled:
            raise PaymentUnavailable("WeChat Pay did not confirm the close; try again", order_no=order_no)
        return await run_in_threadpool(_order_view, api, order_no, openid)

    @router.post("/orders/{order_no}/refund-request", response_model=OrderOut,
                 summary="Ask for the whole order to be refunded (staff decide)")
    def refund_request(order_no: str, body: RefundRequestIn, token: str = TOKEN) -> OrderOut:
        with api.customer(token) as (session, openid):
            return order_view(request_refund(session, order_no=order_no, openid=openid, reason=body.reason,
                                             now=api.clock()))

    @router.post("/orders/{order_no}/confirm-receipt", response_model=OrderOut,
                 summary="Confirm that a shipped order has arrived (it becomes delivered)")
    def confirm_receipt(order_no: str, token: str = TOKEN) -> OrderOut:
        with api.customer(token) as (session, openid):
            return order_view(mark_delivered(session, order_no=order_no, openid=openid, actor="customer",
                                             now=api.clock()))


def _place_order(api: MpApi, token: str, body: CheckoutIn) -> tuple[CheckoutOut, str]:
    with api.customer(token) as (session, openid):
        lines = None if body.items is None else [(item.sku_id, item.quantity) for item in body.items]
        order = place_order(session, openid=openid, address=body.address.model_dump(exclude_none=True),
                            now=api.clock(), ttl_s=api.orders.order_ttl_s, lines=lines, keep_cart=body.keep_cart,
                            max_quantity=api.orders.max_quantity)
        if api.track_view is not None:
            record_checkout(session, openid=openid, product_ids=[item.product_id for item in order.items],
                            at=api.clock())
        placed = CheckoutOut(order_no=order.order_no, amount_fen=order.amount_fen, status=order.status,
                             expires_at=order.expires_at, pay_params={})
    return placed, openid


def _order_view(api: MpApi, order_no: str, openid: str) -> OrderOut:
    with api.factory() as session:
        return order_view(get_order(session, order_no=order_no, openid=openid))


def _prepay(api: MpApi, pay: WeChatPay, order_no: str, openid: str) -> dict[str, str]:
    try:
        return prepay_order(api.factory, pay=pay, order_no=order_no, openid=openid)
    except PayError as exc:
        CHECKOUTS.labels(result="prepay_failed").inc()
        log.warning("prepay for %s failed: %s", order_no, exc)
        raise PaymentUnavailable(
            f"order {order_no} is placed but WeChat Pay did not answer; POST /mp/orders/{order_no}/pay to retry",
            order_no=order_no,
        ) from exc
