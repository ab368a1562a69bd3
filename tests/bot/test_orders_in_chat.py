"""Orders in the chat, end to end: the customer buys in the mini-program (HTTP to /mp/, WeChat Pay through
the sandbox), then writes to the Official Account or mini-program service (encrypted pushes from the
sandbox customer); the bot answers from the commerce core and the order changes, or not, in the database.

The sandbox gives one person the same unionid on both accounts, as WeChat does for accounts bound to
one open platform, so a follower's messages reach the orders their mini-program placed.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from bot.models import Channel, Customer, ReplyWindow, WindowAction
from bot.outgoing import Text
from commerce.models import Order
from commerce.orders import mark_delivered, ship_order
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import ADDRESS, Buyer, placed_order, sandbox_pays, stock_of
from tests.support.sandbox_client import SandboxCustomer, wait_until
from tests.support.shop_fixtures import ADMIN_KEY


def follower(shop: LiveServer, openid: str) -> SandboxCustomer:
    """The same person on the Official Account, following it."""
    customer = SandboxCustomer(shop, openid)
    customer.event("subscribe")
    assert len(customer.wait_for_api_messages(1)) == 1  # the welcome's "猜你想问" menu
    return customer


def order_in_db(shop: LiveServer, order_no: str) -> Order:
    with shop.services.factory() as session:
        order = session.get(Order, order_no)
        assert order is not None
        session.expunge(order)
        return order


def answer_text(sent: dict[str, Any]) -> str:
    reply = sent["reply"]
    assert isinstance(reply, dict) and "content" in reply, sent
    return str(reply["content"])


def menu_answer(customer: SandboxCustomer, message: str) -> dict[str, Any]:
    """The msgmenu the bot answers a message with (menus go through the customer-service API)."""
    before = len(customer.received_via_api())
    sent = customer.says(message)
    assert not sent.get("reply"), sent
    got = customer.wait_for_api_messages(before + 1)
    assert len(got) == before + 1, got
    menu = got[-1]
    assert menu["msgtype"] == "msgmenu", menu
    payload: dict[str, Any] = menu["payload"]
    return payload


def ship(shop: LiveServer, order_no: str) -> None:
    with shop.client() as http:
        shipped = http.post(f"/admin/orders/{order_no}/ship", headers={"X-Api-Key": ADMIN_KEY},
                            json={"carrier": "顺丰速运", "tracking_no": "SF1234567890"})
    assert shipped.status_code == 200, shipped.text


def test_an_order_number_is_answered_with_its_state_items_amount_and_next_step(shop: LiveServer) -> None:
    # Given a customer who ordered in the mini-program and follows the Official Account
    order = placed_order(Buyer(shop, "o_chat_status"), ("lipstick-velvet-999", 1))
    customer = follower(shop, "o_chat_status")
    # When they ask about it with its number
    text = answer_text(customer.says(f"我的订单{order['order_no']}到哪了"))
    # Then the answer is the order as the commerce core has it
    assert order["order_no"] in text and "待付款" in text and "¥159.00" in text
    assert "丝绒口红" in text or "口红" in text
    assert "前在小程序完成付款" in text
    # And WeChat was asked once who the follower is (their unionid), then the answer was kept
    assert len(customer.calls("cgi-bin/user/info")) == 1
    customer.says(f"订单{order['order_no']}")
    assert len(customer.calls("cgi-bin/user/info")) == 1


def test_a_shipped_order_shows_its_carrier_and_tracking_number(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_track")
    order = placed_order(buyer, ("tee-basic-black-L", 1))
    sandbox_pays(shop, order["order_no"])
    customer = follower(shop, "o_chat_track")
    not_yet = answer_text(customer.says(f"{order['order_no']}的物流到哪了"))
    assert "还没有发货" in not_yet and "已付款" in not_yet
    ship(shop, order["order_no"])
    text = answer_text(customer.says(f"{order['order_no']}的物流到哪了"))
    assert "顺丰速运 SF1234567890" in text and "已发货" in text


def test_another_customers_order_number_is_not_found_and_shows_nothing(shop: LiveServer) -> None:
    order = placed_order(Buyer(shop, "o_chat_owner"), ("lipstick-velvet-999", 1))
    stranger = follower(shop, "o_chat_stranger")
    text = answer_text(stranger.says(f"查一下订单{order['order_no']}"))
    assert "没有找到订单" in text
    assert "¥" not in text and "口红" not in text and "待付款" not in text


def test_without_a_number_the_recent_orders_are_offered_and_a_tap_answers(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_recent")
    numbers = [placed_order(buyer, ("tee-basic-black-L", 1))["order_no"] for _ in range(4)]
    customer = follower(shop, "o_chat_recent")
    # When the customer asks without a number
    menu = menu_answer(customer, "我的订单到哪了")
    # Then the last three are offered, newest first
    assert [item["id"].rsplit(":", 1)[1] for item in menu["list"]] == numbers[:0:-1]
    # And tapping one answers about it
    tapped = menu["list"][1]
    text = answer_text(customer.taps(tapped["id"], tapped["content"]))
    assert numbers[2] in text and "待付款" in text


def test_cancelling_an_unpaid_order_asks_first_then_cancels_and_gives_the_stock_back(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_cancel")
    before = stock_of(shop, "tee-basic", "tee-basic-white-M")
    order_no = placed_order(buyer, ("tee-basic-white-M", 2))["order_no"]
    customer = follower(shop, "o_chat_cancel")
    # When the customer asks to cancel, the bot asks first and nothing changes yet
    question = menu_answer(customer, f"帮我取消订单{order_no}")
    assert order_no in question["head_content"]
    assert [item["content"] for item in question["list"]] == ["确定取消", "先不取消"]
    assert order_in_db(shop, order_no).status == "pending_payment"
    # When they say yes
    yes = question["list"][0]
    text = answer_text(customer.taps(yes["id"], yes["content"]))
    # Then the order is cancelled (WeChat Pay's order closed first) and the stock is back
    assert "已取消" in text
    assert order_in_db(shop, order_no).status == "cancelled"
    assert stock_of(shop, "tee-basic", "tee-basic-white-M") == before
    # And a second tap on the old question changes nothing
    customer.taps(yes["id"], yes["content"])
    assert order_in_db(shop, order_no).status == "cancelled"


def test_no_keeps_the_order_and_a_typed_yes_works_too(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_keep")
    first = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    customer = follower(shop, "o_chat_keep")
    menu_answer(customer, f"取消订单{first}")
    assert "保留" in answer_text(customer.says("先不取消"))
    assert order_in_db(shop, first).status == "pending_payment"
    menu_answer(customer, f"取消订单{first}")
    assert "已取消" in answer_text(customer.says("是的"))
    assert order_in_db(shop, first).status == "cancelled"


def test_cancelling_a_paid_order_not_yet_shipped_asks_for_a_refund(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_cancel_paid")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    sandbox_pays(shop, order_no)
    customer = follower(shop, "o_chat_cancel_paid")
    yes = menu_answer(customer, f"取消订单{order_no}")["list"][0]
    assert "退款申请" in answer_text(customer.taps(yes["id"], yes["content"]))
    assert order_in_db(shop, order_no).status == "refunding"


def test_a_shipped_order_cannot_be_cancelled_and_the_bot_says_why(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_cancel_shipped")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    sandbox_pays(shop, order_no)
    ship(shop, order_no)
    text = answer_text(follower(shop, "o_chat_cancel_shipped").says(f"取消订单{order_no}"))
    assert "已经发货" in text and order_in_db(shop, order_no).status == "shipped"


def test_a_return_request_opens_a_refund_request_with_the_customers_reason(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_return")
    order_no = placed_order(buyer, ("tee-basic-black-L", 1))["order_no"]
    sandbox_pays(shop, order_no)
    customer = follower(shop, "o_chat_return")
    # Before delivery the policy is explained and nothing changes
    assert "还没有发货" in answer_text(customer.says(f"订单{order_no}我要退货"))
    with transaction(shop.services.factory) as session:
        ship_order(session, order_no=order_no, carrier="顺丰速运", tracking_no="SF0000000001")
        mark_delivered(session, order_no=order_no)
    # Once delivered, the request goes to staff with the customer's words
    text = answer_text(customer.says(f"订单{order_no}我要退货，尺码太小了"))
    assert "退货退款申请" in text
    stored = order_in_db(shop, order_no)
    assert stored.status == "refunding" and stored.refund_reason == f"订单{order_no}我要退货，尺码太小了"


def test_the_address_changes_before_shipping_read_from_the_next_message(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_address")
    order_no = placed_order(buyer, ("tee-basic-black-L", 1))["order_no"]
    customer = follower(shop, "o_chat_address")
    assert "收件人、手机号和详细地址" in answer_text(customer.says("我要改一下收货地址"))
    assert order_in_db(shop, order_no).address == ADDRESS | {}  # unchanged until the address comes
    text = answer_text(customer.says("李四 13912345678 广州市海珠区新港中路 397 号"))
    assert "李四 13912345678" in text
    assert order_in_db(shop, order_no).address == {"name": "李四", "phone": "13912345678",
                                                   "detail": "广州市海珠区新港中路397号"}


def test_after_shipping_the_address_stays_and_a_person_is_offered(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_address_late")
    order_no = placed_order(buyer, ("tee-basic-black-L", 1))["order_no"]
    sandbox_pays(shop, order_no)
    ship(shop, order_no)
    customer = follower(shop, "o_chat_address_late")
    menu = menu_answer(customer, f"订单{order_no}改地址 王五 13712345678 深圳市南山区科技园南路 88 号")
    assert "不能再修改地址" in menu["head_content"] and menu["list"][0]["id"] == "action:request_human"
    assert order_in_db(shop, order_no).address["name"] == ADDRESS["name"]


def test_in_mini_program_service_the_buyer_is_known_by_the_openid_itself(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_mp")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    customer = SandboxCustomer(shop, "o_chat_mp", account="mp")
    customer.event("user_enter_tempsession")
    entered = len(customer.wait_for_api_messages(1))  # the welcome
    customer.says("我的订单到哪了")
    answers = customer.wait_for_api_messages(entered + 1)
    text = answers[-1]["payload"]["content"]
    assert order_no in text and "待付款" in text


def test_a_payment_opens_the_payers_unlimited_48_hour_window(shop: LiveServer) -> None:
    # Given a buyer who never wrote to customer service
    buyer = Buyer(shop, "o_chat_paid_window")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    # When they pay
    sandbox_pays(shop, order_no)

    # Then the payment job opens their mini-program window: 48 hours, no quota
    def window() -> ReplyWindow | None:
        with shop.services.factory() as session:
            return session.scalars(select(ReplyWindow).join(Customer, Customer.id == ReplyWindow.customer_id).where(
                Customer.channel == Channel.MP, Customer.openid == "o_chat_paid_window")).first()

    opened = wait_until(window, lambda found: found is not None, timeout_s=10)
    assert opened is not None and opened.opened_by == WindowAction.PAYMENT and opened.quota is None
    assert (opened.expires_at - opened.opened_at).total_seconds() == shop.settings.messenger.payment_window_s
    # And the messenger may send more than a message window's five, which WeChat accepts
    messenger = shop.services.messenger
    with shop.services.factory() as session:
        payer = session.scalars(select(Customer.id).where(Customer.channel == Channel.MP,
                                                          Customer.openid == "o_chat_paid_window")).one()
    for n in range(7):
        messenger.send(customer_id=payer, message=Text(f"发货提醒 {n}"))
    customer = SandboxCustomer(shop, "o_chat_paid_window", account="mp")
    # (the order's paid notice may go out in the same window, as a customer-service message of its own)
    sent = wait_until(lambda: [m for m in customer.received_via_api() if "发货提醒" in str(m["payload"])],
                      lambda found: len(found) >= 7)
    assert len(sent) == 7
    assert all(call["errcode"] == 0 for call in customer.calls("cgi-bin/message/custom/send"))


def test_the_pay_page_and_cancel_api_still_answer_after_a_chat_cancel(shop: LiveServer) -> None:
    buyer = Buyer(shop, "o_chat_then_api")
    order_no = placed_order(buyer, ("lipstick-velvet-999", 1))["order_no"]
    customer = follower(shop, "o_chat_then_api")
    yes = menu_answer(customer, f"取消订单{order_no}")["list"][0]
    customer.taps(yes["id"], yes["content"])
    with httpx.Client(base_url=shop.base_url, timeout=20) as http:
        again = http.post(f"/mp/orders/{order_no}/cancel", headers={"Authorization": f"Bearer {buyer.token}"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "ILLEGAL_TRANSITION"


def test_a_bare_cancel_command_acts_on_the_customers_order_not_the_policy(shop: LiveServer) -> None:
    # "取消订单" alone is also a KB question; from a customer with an order it is a request about it
    order_no = placed_order(Buyer(shop, "o_chat_bare_cancel"), ("lipstick-velvet-999", 1))["order_no"]
    question = menu_answer(follower(shop, "o_chat_bare_cancel"), "取消订单")
    assert order_no in question["head_content"]
