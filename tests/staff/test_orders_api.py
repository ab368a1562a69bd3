"""The back office's orders through the staff API, over real HTTP against a live shop whose payments and
refunds go through the sandbox's WeChat Pay (signed notifications, the real pay client): every customer's
orders filtered (state, the store's days, customer, amount, order number) and paged with the total; one order
with its items, payments, refunds, timeline, address and the customer with their latest conversation; and the
admins' moves (ship, refund all or part, decline a refund request) with the staff member on the timeline, each
refused with a 409 the console can show when the state does not allow it, and refused to anyone but admins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from bot.conversation import customer_id as ensure_customer
from bot.customers.models import MpSession
from bot.handoff.models import HandoffReason
from bot.handoff.operations import hand_off
from bot.models import Channel, Customer
from commerce.models import Order
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of, placed_order, sandbox_pays

TEE, BLACK_TEE, LIPSTICK = ("tee-basic-white-M", 7900), ("tee-basic-black-L", 8900), ("lipstick-velvet-999", 15900)
STAFF = {"boss": Role.ADMIN, "wang": Role.AGENT, "zhou": Role.SUPERVISOR, "mei": Role.MARKETER}


@pytest.fixture(scope="module")
def as_staff(shop: LiveServer) -> Iterator[dict[str, httpx.Client]]:
    """A client per staff member, signed in with a personal token: an admin, an agent of 售前, a supervisor
    and a marketer."""
    clients = {}
    for username, role in STAFF.items():
        make_staff(shop, username, role, groups=("售前",) if role is Role.AGENT else ())
        http = shop.client()
        http.headers["Authorization"] = f"Bearer {token_for(shop, username)}"
        clients[username] = http
    yield clients
    for http in clients.values():
        http.close()


def ship(http: httpx.Client, order_no: str, tracking_no: str = "SF1234567890") -> httpx.Response:
    return http.post(f"/staff/api/orders/{order_no}/ship", json={"carrier": "顺丰速运", "tracking_no": tracking_no})


def order_of(shop: LiveServer, openid: str, *lines: tuple[str, int], paid: bool = True) -> str:
    """The customer checks out in the mini-program and, if `paid`, pays in WeChat (a signed notification)."""
    order_no: str = placed_order(Buyer(shop, openid), *((sku, 1) for sku, _ in lines))["order_no"]
    if paid:
        sandbox_pays(shop, order_no)
    return order_no


def listed(http: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = http.get("/staff/api/orders", params=params)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def numbers(page: dict[str, Any]) -> list[str]:
    return [order["order_no"] for order in page["orders"]]


def detail(http: httpx.Client, order_no: str) -> dict[str, Any]:
    answer = http.get(f"/staff/api/orders/{order_no}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def timeline(order: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(e["from_status"], e["to_status"], e["actor"]) for e in order["events"]]


@pytest.fixture
def refunds_wait(shop: LiveServer) -> Iterator[None]:
    """WeChat Pay (the sandbox) keeps each refund PROCESSING until the test settles it (`settle`)."""
    with shop.client() as http:
        http.post("/sandbox/control/pay/settings", json={"refunds_settle": False}).raise_for_status()
        yield
        http.post("/sandbox/control/pay/settings", json={"refunds_settle": True}).raise_for_status()


def settle(shop: LiveServer, out_refund_no: str) -> None:
    """WeChat Pay returns the money and sends its signed refund notification to the shop."""
    with shop.client() as http:
        answer = http.post(f"/sandbox/control/pay/refunds/{out_refund_no}/settle", json={"status": "SUCCESS"})
    assert answer.status_code == 200, answer.text


def placed_at(shop: LiveServer, order_no: str, at: datetime) -> None:
    with transaction(shop.services.factory) as session:
        session.execute(update(Order).where(Order.order_no == order_no).values(created_at=at))


def refused(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    error = error_of(answer)
    assert error["code"] == code, error
    message: str = error["message"]
    return message


# ----- the list --------------------------------------------------------------------------------------


def test_orders_are_listed_newest_first_with_the_total_and_paged(shop: LiveServer,
                                                                  as_staff: dict[str, httpx.Client]) -> None:
    wang = as_staff["wang"]
    made = [order_of(shop, "o_orders_pages", TEE), order_of(shop, "o_orders_pages", LIPSTICK),
            order_of(shop, "o_orders_pages", BLACK_TEE, paid=False)]
    # Agents read the orders (it helps a chat): newest first, money in fen
    every = listed(wang, openid="o_orders_pages")
    assert numbers(every) == made[::-1] and every["total"] == 3
    assert [(o["status"], o["amount_fen"], o["quantity"]) for o in every["orders"]] == [
        ("pending_payment", 8900, 1), ("paid", 15900, 1), ("paid", 7900, 1)]
    assert every["timezone"] == "Asia/Shanghai"
    # Pages of two: the total stays, the offset moves on
    first, second = listed(wang, openid="o_orders_pages", limit=2), listed(wang, openid="o_orders_pages", limit=2,
                                                                          offset=2)
    assert numbers(first) + numbers(second) == made[::-1]
    assert (first["total"], first["limit"], first["offset"], second["total"]) == (3, 2, 0, 3)
    # The limit and the offset are bounded
    # and so are the numbers the filters compare with columns (a huge one is a 422, not a database error)
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 10_001}, {"customer_id": 2**63},
                   {"min_fen": 10**20}, {"max_fen": 2**31}):
        answer = wang.get("/staff/api/orders", params=params)
        assert refused(answer, 422, "INVALID_INPUT") and error_of(answer)["field"] == next(iter(params))


def test_orders_are_filtered_by_state_amount_and_order_number(shop: LiveServer,
                                                              as_staff: dict[str, httpx.Client]) -> None:
    zhou = as_staff["zhou"]
    tee, lipstick, unpaid = (order_of(shop, "o_orders_filters", TEE), order_of(shop, "o_orders_filters", LIPSTICK),
                             order_of(shop, "o_orders_filters", BLACK_TEE, paid=False))
    mine = {"openid": "o_orders_filters"}
    assert numbers(listed(zhou, **mine, status="paid")) == [lipstick, tee]
    assert numbers(listed(zhou, **mine, status="pending_payment")) == [unpaid]
    assert listed(zhou, **mine, status="refunded")["total"] == 0
    # Amounts in fen, both ends included
    assert numbers(listed(zhou, **mine, min_fen=7901, max_fen=15900)) == [unpaid, lipstick]
    assert numbers(listed(zhou, **mine, max_fen=7900)) == [tee]
    assert numbers(listed(zhou, **mine, min_fen=15900, max_fen=15900)) == [lipstick]
    # An order number, or its first digits (the time it was placed)
    assert numbers(listed(zhou, order_no=lipstick)) == [lipstick]
    assert lipstick in numbers(listed(zhou, order_no=lipstick[:14], limit=100))
    assert set(numbers(listed(zhou, **mine, order_no=lipstick[:8]))) == {tee, lipstick, unpaid}
    assert listed(zhou, order_no="1999")["total"] == 0
    # Refusals name the filter at fault
    for params, field in (({"status": "lost"}, "status"), ({"order_no": "2026-12"}, "order_no"),
                          ({"order_no": "1" * 21}, "order_no"), ({"min_fen": -1}, "min_fen"),
                          ({"min_fen": 500, "max_fen": 100}, "max_fen"),
                          ({"openid": "o_orders_filters", "customer_id": 1}, "customer_id")):
        answer = zhou.get("/staff/api/orders", params=params)
        assert refused(answer, 422, "INVALID_INPUT") and error_of(answer)["field"] == field, params


def test_days_are_the_stores_days(shop: LiveServer, as_staff: dict[str, httpx.Client]) -> None:
    wang = as_staff["wang"]
    late, early = order_of(shop, "o_orders_days", TEE), order_of(shop, "o_orders_days", LIPSTICK)
    # Given one order placed a second before midnight in Shanghai on 1 March, one half an hour after it
    placed_at(shop, late, datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC))  # 23:59:59 on 1 March, store time
    placed_at(shop, early, datetime(2026, 3, 1, 16, 30, tzinfo=UTC))  # 00:30 on 2 March, store time
    mine = {"openid": "o_orders_days"}
    # Then each is on its own day of the store's, though both are 1 March in UTC
    assert numbers(listed(wang, **mine, created_from="2026-03-01", created_to="2026-03-01")) == [late]
    assert numbers(listed(wang, **mine, created_from="2026-03-02", created_to="2026-03-02")) == [early]
    assert numbers(listed(wang, **mine, created_from="2026-03-02")) == [early]
    assert numbers(listed(wang, **mine, created_to="2026-03-01")) == [late]
    assert numbers(listed(wang, **mine, created_from="2026-03-01", created_to="2026-03-02")) == [early, late]
    assert listed(wang, **mine, created_from="2026-03-03")["total"] == 0
    backwards = wang.get("/staff/api/orders", params={**mine, "created_from": "2026-03-02", "created_to": "2026-03-01"})
    assert refused(backwards, 422, "INVALID_INPUT") and error_of(backwards)["field"] == "created_to"
    not_a_day = wang.get("/staff/api/orders", params={"created_from": "2026-02-30"})
    assert refused(not_a_day, 422, "INVALID_INPUT") and error_of(not_a_day)["field"] == "created_from"


def test_a_customer_is_found_by_openid_or_by_their_customer_row_on_either_channel(
    shop: LiveServer, as_staff: dict[str, httpx.Client],
) -> None:
    wang = as_staff["wang"]
    bought = order_of(shop, "o_orders_person", TEE)
    order_of(shop, "o_orders_someone_else", TEE)
    # Given the buyer wrote to the mini-program's customer service and follows the Official Account: WeChat
    # gave the follower the unionid of their mini-program login (the sandbox's person behind the openid)
    unionid = _login_unionid(shop, "o_orders_person")
    mp_row, oa_row = (_buyer_row(shop, "o_orders_person"),
                      _customer(shop, Channel.OA, "oa_orders_person", unionid=unionid))
    # Then their orders are found by the openid that paid, and by either customer row
    assert numbers(listed(wang, openid="o_orders_person")) == [bought]
    assert numbers(listed(wang, customer_id=mp_row)) == [bought]
    assert numbers(listed(wang, customer_id=oa_row)) == [bought]
    # A follower who never bought has none; a customer row that does not exist is refused
    assert listed(wang, customer_id=_customer(shop, Channel.OA, "oa_orders_window_shopper"))["total"] == 0
    assert refused(wang.get("/staff/api/orders", params={"customer_id": 999_999}), 404, "UNKNOWN_CUSTOMER")


# ----- one order -------------------------------------------------------------------------------------


def test_the_order_page_has_everything_staff_need(shop: LiveServer, as_staff: dict[str, httpx.Client]) -> None:
    boss, wang, zhou = as_staff["boss"], as_staff["wang"], as_staff["zhou"]
    buyer = Buyer(shop, "o_orders_page")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 2), ("tee-basic-white-M", 1))["order_no"]
    paid = sandbox_pays(shop, order_no)
    # Given the buyer asked a person about it in the mini-program's customer service (售前)
    conversation = _conversation(shop, _buyer_row(shop, "o_orders_page"), "售前")

    order = detail(wang, order_no)
    assert (order["status"], order["amount_fen"], order["refunded_fen"], order["refundable_fen"]) == (
        "paid", 2 * 15900 + 7900, 0, 2 * 15900 + 7900)
    assert [(i["sku_id"], i["title"], i["price_fen"], i["quantity"]) for i in order["items"]] == [
        ("lipstick-velvet-999", "丝绒哑光口红", 15900, 2), ("tee-basic-white-M", "纯棉圆领T恤", 7900, 1)]
    # The buyer's name, phone and door masked: the full address is a supervisor's or admin's audited reveal
    assert order["address"] == {"name": "张*", "phone": "138****8000", "province": "广东省", "city": "广州市",
                                "district": "天河区", "detail": "****"}
    assert order["may_reveal"] is False and detail(zhou, order_no)["may_reveal"] is True
    [row] = listed(wang, order_no=order_no)["orders"]
    assert (row["description"], row["lines"], row["quantity"]) == ("丝绒哑光口红 等3件", 2, 3)
    # The payment WeChat Pay's signed notification reported
    [payment] = order["payments"]
    transaction_id = paid["transaction"]["transaction_id"]
    assert (payment["transaction_id"], payment["amount_fen"], payment["payer_openid"], payment["source"],
            payment["outcome"]) == (transaction_id, order["amount_fen"], "o_orders_page", "notify", "applied")
    assert order["transaction_id"] == transaction_id and order["paid_at"]
    assert timeline(order) == [(None, "pending_payment", "customer"), ("pending_payment", "paid", "wechatpay")]
    assert order["refunds"] == []
    # The customer, and their latest conversation for the console's link (#c/<id>)
    assert order["customer"]["channel"] == "mp" and order["customer"]["openid"] == "o_orders_page"
    assert order["customer"]["conversation_id"] == conversation
    # What an agent may do: read only; an admin may ship or refund, nothing to decline
    assert order["moves"] == {"ship": False, "refund": False, "decline_refund": False}
    assert detail(boss, order_no)["moves"] == {"ship": True, "refund": True, "decline_refund": False}
    assert detail(zhou, order_no)["moves"] == {"ship": False, "refund": False, "decline_refund": False}
    # An order of no one the bot knows yet has no customer (paying makes them known: order notices, tag rules);
    # an unknown order is 404 in words the console shows
    assert detail(wang, order_of(shop, "o_orders_silent", TEE, paid=False))["customer"] is None
    for unknown in ("20260101000000000000", "not-an-order"):
        assert refused(wang.get(f"/staff/api/orders/{unknown}"), 404, "NOT_FOUND") == f"没有订单 {unknown}"


def test_the_conversation_link_is_one_the_reader_may_open(shop: LiveServer,
                                                          as_staff: dict[str, httpx.Client]) -> None:
    order_no = order_of(shop, "o_orders_after_sales", TEE, paid=False)
    # Given the buyer follows the Official Account (the same person by unionid) and talked to 售后 there
    unionid = _login_unionid(shop, "o_orders_after_sales")
    follower = _customer(shop, Channel.OA, "oa_orders_after_sales", unionid=unionid)
    conversation = _conversation(shop, follower, "售后")
    # Then the order names that follower, and the supervisor gets the link; an agent of 售前 may not open it
    assert detail(as_staff["zhou"], order_no)["customer"] == {
        "customer_id": follower, "channel": "oa", "openid": "oa_orders_after_sales", "conversation_id": conversation}
    assert detail(as_staff["wang"], order_no)["customer"]["conversation_id"] is None
    # Once the buyer's mini-program row exists it is the one named, with the person's latest conversation
    buyer = _buyer_row(shop, "o_orders_after_sales")
    assert detail(as_staff["zhou"], order_no)["customer"] == {
        "customer_id": buyer, "channel": "mp", "openid": "o_orders_after_sales", "conversation_id": conversation}


# ----- moves -----------------------------------------------------------------------------------------


def test_an_admin_ships_a_paid_order_and_the_timeline_names_them(shop: LiveServer,
                                                                 as_staff: dict[str, httpx.Client]) -> None:
    boss = as_staff["boss"]
    order_no = order_of(shop, "o_orders_ship", TEE)
    shipped = ship(boss, order_no)
    assert shipped.status_code == 200, shipped.text
    order = shipped.json()
    assert (order["status"], order["carrier"], order["tracking_no"]) == ("shipped", "顺丰速运", "SF1234567890")
    assert order["shipped_at"] and order["moves"] == {"ship": False, "refund": True, "decline_refund": False}
    assert timeline(order)[-1] == ("paid", "shipped", "staff:boss")
    # Shipped once: a second time is refused, saying why
    again = ship(boss, order_no, "SF1234567891")
    assert refused(again, 409, "ILLEGAL_TRANSITION") == "订单当前为「已发货」，只有「已付款」的订单可以发货"
    assert error_of(again)["status"] == "shipped"  # the core's details stay machine-readable
    # An unpaid order cannot ship; a bad tracking number is refused before anything changes
    unpaid = order_of(shop, "o_orders_ship", TEE, paid=False)
    not_paid = ship(boss, unpaid)
    assert refused(not_paid, 409, "ILLEGAL_TRANSITION") == "订单当前为「待付款」，只有「已付款」的订单可以发货"
    bad = ship(boss, order_no, "SF 12/3")
    assert refused(bad, 422, "INVALID_INPUT") and error_of(bad)["field"] == "tracking_no"
    assert refused(ship(boss, "20260101000000000000"), 404, "NOT_FOUND")


def test_an_order_whose_customer_asked_for_a_refund_does_not_ship(shop: LiveServer,
                                                                  as_staff: dict[str, httpx.Client]) -> None:
    boss = as_staff["boss"]
    buyer = Buyer(shop, "o_orders_ship_refunding")
    order_no = placed_order(buyer, ("tee-basic-white-M", 1))["order_no"]
    sandbox_pays(shop, order_no)
    assert buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "不想要了"}).status_code == 200
    assert detail(boss, order_no)["moves"] == {"ship": False, "refund": True, "decline_refund": True}
    # The transition table lets a refunding order go back to shipped (after a dispute over a shipped one), but
    # shipping must not end the customer's request behind their back
    answer = ship(boss, order_no)
    assert refused(answer, 409, "ILLEGAL_TRANSITION") == "订单当前为「退款中」，只有「已付款」的订单可以发货"
    assert detail(boss, order_no)["status"] == "refunding"


def test_an_admin_refunds_part_then_the_rest_through_wechat_pay(
    shop: LiveServer, as_staff: dict[str, httpx.Client], refunds_wait: None,
) -> None:
    boss = as_staff["boss"]
    order_no = order_of(shop, "o_orders_refund", LIPSTICK)
    # When 30 yuan of the 159 is refunded: WeChat Pay accepts it, the order stays paid
    part = boss.post(f"/staff/api/orders/{order_no}/refund", json={"amount_fen": 3000, "reason": "少发赠品"})
    assert part.status_code == 200, part.text
    done = part.json()
    assert (done["out_refund_no"], done["amount_fen"], done["refund_status"]) == (f"{order_no}R01", 3000, "processing")
    assert (done["order"]["status"], done["order"]["refundable_fen"]) == ("paid", 15900 - 3000)
    assert [(r["amount_fen"], r["status"], r["reason"], r["created_by"]) for r in done["order"]["refunds"]] == [
        (3000, "processing", "少发赠品", "staff:boss")]  # a partial refund moves no state: the row says who
    # Then WeChat Pay's refund notification settles it
    settle(shop, f"{order_no}R01")
    order = detail(boss, order_no)
    assert (order["status"], order["refunded_fen"], order["refunds"][0]["status"]) == ("paid", 3000, "succeeded")
    assert order["refunds"][0]["refund_id"] and order["refunds"][0]["settled_at"]
    # More than is left is refused, in yuan
    over = boss.post(f"/staff/api/orders/{order_no}/refund", json={"amount_fen": 12901, "reason": "整单退"})
    assert refused(over, 409, "REFUND_REFUSED") == "退款金额 ¥129.01 超过可退金额 ¥129.00"
    assert refused(boss.post(f"/staff/api/orders/{order_no}/refund", json={"amount_fen": 0, "reason": "x"}),
                   422, "INVALID_INPUT")
    # When the rest is refunded (no amount: all that is left), the order is refunding, then refunded
    rest = boss.post(f"/staff/api/orders/{order_no}/refund", json={"reason": "客户退货"})
    assert rest.status_code == 200, rest.text
    assert (rest.json()["amount_fen"], rest.json()["order"]["status"]) == (12900, "refunding")
    assert rest.json()["order"]["moves"] == {"ship": False, "refund": False, "decline_refund": False}
    settle(shop, f"{order_no}R02")
    order = detail(boss, order_no)
    assert (order["status"], order["refunded_fen"], order["refundable_fen"]) == ("refunded", 15900, 0)
    assert [r["status"] for r in order["refunds"]] == ["succeeded", "succeeded"]
    assert timeline(order)[-2:] == [("paid", "refunding", "staff:boss"), ("refunding", "refunded", "wechatpay")]
    # Nothing is left to refund now
    after = boss.post(f"/staff/api/orders/{order_no}/refund", json={"amount_fen": 100, "reason": "再退"})
    assert refused(after, 409, "REFUND_REFUSED") == "订单当前为「已退款」，没有可退的款项"
    unpaid = order_of(shop, "o_orders_refund", TEE, paid=False)
    assert refused(boss.post(f"/staff/api/orders/{unpaid}/refund", json={"reason": "x"}), 409,
                   "REFUND_REFUSED") == "订单当前为「待付款」，没有可退的款项"


def test_an_admin_declines_a_refund_request(shop: LiveServer, as_staff: dict[str, httpx.Client]) -> None:
    boss = as_staff["boss"]
    buyer = Buyer(shop, "o_orders_decline")
    order_no = placed_order(buyer, ("tee-basic-white-M", 1))["order_no"]
    sandbox_pays(shop, order_no)
    # Nothing to decline while the customer has not asked
    early = boss.post(f"/staff/api/orders/{order_no}/decline-refund", json={"reason": "已发货"})
    assert refused(early, 409, "ILLEGAL_TRANSITION") == "订单当前为「已付款」，没有待处理的退款申请"
    assert buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "买错尺码"}).status_code == 200
    order = detail(boss, order_no)
    assert (order["status"], order["refund_reason"], order["resume_status"]) == ("refunding", "买错尺码", "paid")
    # When the admin declines, the order goes back to paid with their name on the move
    declined = boss.post(f"/staff/api/orders/{order_no}/decline-refund", json={"reason": "商品已定制，不支持退款"})
    assert declined.status_code == 200, declined.text
    order = declined.json()
    assert order["status"] == "paid" and order["moves"] == {"ship": True, "refund": True, "decline_refund": False}
    assert order["events"][-1] | {"created_at": None} == {
        "from_status": "refunding", "to_status": "paid", "reason": "商品已定制，不支持退款", "actor": "staff:boss",
        "created_at": None}


def test_a_request_with_a_refund_on_its_way_is_not_declined(
    shop: LiveServer, as_staff: dict[str, httpx.Client], refunds_wait: None,
) -> None:
    boss = as_staff["boss"]
    buyer = Buyer(shop, "o_orders_decline_in_flight")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    sandbox_pays(shop, order_no)
    assert buyer.post(f"/mp/orders/{order_no}/refund-request", json={"reason": "颜色不喜欢"}).status_code == 200
    # Given the admin answered with part of the money, not yet settled by WeChat Pay
    assert boss.post(f"/staff/api/orders/{order_no}/refund", json={"amount_fen": 3000, "reason": "部分退款"}).json()[
        "refund_status"] == "processing"
    assert detail(boss, order_no)["moves"]["decline_refund"] is False
    # Then declining waits for it
    answer = boss.post(f"/staff/api/orders/{order_no}/decline-refund", json={"reason": "已补偿"})
    assert refused(answer, 409, "ILLEGAL_TRANSITION") == "有退款正在提交或处理中，等它有结果后再处理退款申请"
    # and once it settles, the request is answered (part of the money) and the order is paid again
    settle(shop, f"{order_no}R01")
    assert (detail(boss, order_no)["status"], detail(boss, order_no)["refunded_fen"]) == ("paid", 3000)


# ----- who may --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["wang", "zhou"])
def test_agents_and_supervisors_read_but_never_move_an_order(
    shop: LiveServer, as_staff: dict[str, httpx.Client], reader: str,
) -> None:
    http = as_staff[reader]
    order_no = order_of(shop, f"o_orders_read_{reader}", TEE)
    assert numbers(listed(http, openid=f"o_orders_read_{reader}")) == [order_no]
    assert detail(http, order_no)["status"] == "paid"
    for move, body in (("ship", {"carrier": "顺丰速运", "tracking_no": "SF1234567895"}),
                       ("refund", {"amount_fen": 100, "reason": "x"}), ("decline-refund", {"reason": "x"})):
        assert refused(http.post(f"/staff/api/orders/{order_no}/{move}", json=body), 403, "FORBIDDEN")
    order = detail(as_staff["boss"], order_no)
    assert (order["status"], order["refunds"], len(order["events"])) == ("paid", [], 2)


def test_marketers_and_strangers_see_no_orders(shop: LiveServer, as_staff: dict[str, httpx.Client]) -> None:
    order_no = order_of(shop, "o_orders_private", TEE)
    assert refused(as_staff["mei"].get("/staff/api/orders"), 403, "FORBIDDEN")
    assert refused(as_staff["mei"].get(f"/staff/api/orders/{order_no}"), 403, "FORBIDDEN")
    with shop.client() as stranger:
        assert refused(stranger.get("/staff/api/orders"), 401, "NOT_SIGNED_IN")
        assert refused(stranger.post(f"/staff/api/orders/{order_no}/ship",
                                     json={"carrier": "顺丰速运", "tracking_no": "SF1234567896"}), 401, "NOT_SIGNED_IN")


# ----- helpers ---------------------------------------------------------------------------------------


def _customer(shop: LiveServer, channel: Channel, openid: str, unionid: str | None = None) -> int:
    with transaction(shop.services.factory) as session:
        row = Customer(channel=channel, openid=openid, unionid=unionid, created_at=utcnow())
        session.add(row)
        session.flush()
        return row.id


def _buyer_row(shop: LiveServer, openid: str) -> int:
    """The mini-program customer row of a buyer (paying may have made it already: order notices, tag rules)."""
    with transaction(shop.services.factory) as session:
        return ensure_customer(session, channel=Channel.MP, openid=openid, now=utcnow())


def _conversation(shop: LiveServer, customer_id: int, group: str) -> int:
    with transaction(shop.services.factory) as session:
        handoff, _ = hand_off(session, customer_id=customer_id, reason=HandoffReason.ASKED, group=group, summary={},
                              now=utcnow())
        return handoff.id


def _login_unionid(shop: LiveServer, openid: str) -> str:
    """The unionid WeChat gave with the buyer's mini-program login."""
    with shop.services.factory() as session:
        found = session.scalar(select(MpSession.unionid).where(MpSession.openid == openid,
                                                               MpSession.unionid.is_not(None)))
    assert found, f"no unionid for the logins of {openid}"
    return str(found)


def test_the_openapi_document_lists_the_order_routes(shop: LiveServer) -> None:
    with shop.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    assert set(paths["/staff/api/orders"]) == {"get"} and set(paths["/staff/api/orders/{order_no}"]) == {"get"}
    for move in ("ship", "refund", "decline-refund"):
        assert set(paths[f"/staff/api/orders/{{order_no}}/{move}"]) == {"post"}
        assert {"403", "409", "422"} <= set(paths[f"/staff/api/orders/{{order_no}}/{move}"]["post"]["responses"])
    listing = paths["/staff/api/orders"]["get"]
    assert listing["summary"] and "422" in listing["responses"]
    assert [p["name"] for p in listing["parameters"]] == [
        "status", "created_from", "created_to", "openid", "customer_id", "min_fen", "max_fen", "order_no", "phone",
        "limit", "offset"]
    assert set(paths["/staff/api/orders/{order_no}/address/reveal"]) == {"post"}


# ----- personal data ---------------------------------------------------------------------------------


def checked_out_to(shop: LiveServer, openid: str, address: dict[str, str]) -> str:
    buyer = Buyer(shop, openid)
    assert buyer.post("/mp/cart/items", json={"sku_id": TEE[0], "quantity": 1}).status_code == 200
    answer = buyer.post("/mp/checkout", json={"address": address})
    assert answer.status_code == 201, answer.text
    order_no: str = answer.json()["order_no"]
    return order_no


def test_the_full_address_is_revealed_to_supervisors_and_admins_only_and_each_reveal_is_audited(
    shop: LiveServer, as_staff: dict[str, httpx.Client],
) -> None:
    boss, wang, zhou, mei = as_staff["boss"], as_staff["wang"], as_staff["zhou"], as_staff["mei"]
    address = {"name": "欧阳娜娜", "phone": "13912345678", "province": "浙江省", "city": "杭州市",
               "district": "西湖区", "detail": "文三路 90 号 2 单元"}
    order_no = checked_out_to(shop, "o_pii_reveal", address)
    reveal = f"/staff/api/orders/{order_no}/address/reveal"
    # An agent sees it masked and may not reveal it (nor may a marketer); nothing is audited
    assert detail(wang, order_no)["address"]["phone"] == "139****5678"
    refused(wang.post(reveal, json={"reason": "顾客要改地址"}), 403, "FORBIDDEN")
    assert mei.post(reveal, json={"reason": "x"}).status_code == 403
    # A reveal says why: without a reason it is refused
    assert zhou.post(reveal, json={}).status_code == 422
    # A supervisor reveals it, then an admin: each gets it in full and each is a row of the audit log
    for who, reason in ((zhou, "顾客来电核对地址"), (boss, "安排发货")):
        answer = who.post(reveal, json={"reason": reason})
        assert answer.status_code == 200, answer.text
        assert answer.json()["address"] == address
    audit = boss.get("/staff/api/pii-reveals", params={"order_no": order_no})
    assert audit.status_code == 200, audit.text
    assert [(row["username"], row["role"], row["order_no"], row["reason"], row["fields"]) for row in audit.json()] == [
        ("boss", "admin", order_no, "安排发货", sorted(address)),
        ("zhou", "supervisor", order_no, "顾客来电核对地址", sorted(address)),
    ]
    # Only admins read the audit log
    assert zhou.get("/staff/api/pii-reveals").status_code == 403


def test_orders_are_found_by_the_buyers_whole_phone_number_through_its_hash(
    shop: LiveServer, as_staff: dict[str, httpx.Client],
) -> None:
    wang = as_staff["wang"]
    mine = checked_out_to(shop, "o_pii_phone", {**_address("13700001111"), "phone": "+86 137-0000-1111"})
    other = checked_out_to(shop, "o_pii_phone_other", _address("13700002222"))
    # However the number was written at checkout or in the search, the whole number finds the order
    assert numbers(listed(wang, phone="13700001111")) == [mine]
    assert numbers(listed(wang, phone="137 0000 1111")) == [mine]
    assert numbers(listed(wang, phone="13700002222")) == [other]
    # A part of a number finds nothing (the addresses are sealed, not searched); a non-number is refused
    assert listed(wang, phone="0000111")["total"] == 0
    refused(wang.get("/staff/api/orders", params={"phone": "call me"}), 422, "INVALID_INPUT")
    # The hash is what the database holds beside the sealed address
    with shop.services.factory() as session:
        hashes = set(session.scalars(select(Order.phone_hash).where(Order.order_no.in_([mine, other]))))
    assert len(hashes) == 2 and all(len(h or "") == 64 for h in hashes)


def _address(phone: str) -> dict[str, str]:
    return {"name": "李四", "phone": phone, "city": "上海市", "detail": "南京西路 1 号"}
