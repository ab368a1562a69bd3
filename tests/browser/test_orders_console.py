"""The console's orders pages (订单) in headless Chromium against a live server whose orders were placed in the
mini-program API and paid through the sandbox's WeChat Pay (signed notifications): an admin finds orders with
the filters and the search box, ships a paid one (carrier and tracking number checked in the dialog, then
已发货 and the event on its timeline), refunds ¥30.00 of another through the real pay client (the amount typed in
yuan, the refund's status as WeChat Pay settles it), and opens the buyer's conversation from the order; an agent
sees an order read-only. The strict CSP holds throughout.

Needs Python Playwright and Debian's Chromium (see test_sandbox_page.py). With CHATSHOP_UPDATE_SCREENSHOTS=1 the
README's screenshots docs/screenshots/console-orders.png and console-order.png are taken again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commerce.catalog import import_catalog, load_catalog_file
from commerce.models import Order
from commerce.payments import apply_payment_notice
from staff.personal_data import recent_reveals
from staff.roles import Role
from storage.db import transaction
from tests.browser.test_console import (
    DEMO_CATALOG,
    LAPTOP,
    SCREENSHOTS,
    add_person,
    handoff_id_of,
    sign_in,
    skill_groups,
)
from tests.browser.test_sandbox_page import HAVE_PLAYWRIGHT
from tests.support import LiveServer
from tests.support.mp_client import Buyer, placed_order, sandbox_pays
from tests.support.sandbox_client import SandboxCustomer
from wechat.pay_notify import PaymentNotice

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, Page, expect

from tests.browser.test_console import browser, problems  # noqa: F401  (fixtures)

TALL = {"width": 1366, "height": 1100}


def order_appid(server: LiveServer) -> str:
    """The mini-program's app id, which the store's payments are made for."""
    return server.services.settings.miniprogram.app_id


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server with the demo catalog; WeChat Pay is the sandbox's, as `make run` has it."""
    server = server_factory({"CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False)})
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return server


def bought(server: LiveServer, openid: str, *items: tuple[str, int], paid: bool = True) -> dict[str, Any]:
    order = placed_order(Buyer(server, openid), *items)
    if paid:
        sandbox_pays(server, order["order_no"])
    return order


def a_day_of_orders(server: LiveServer) -> dict[str, str]:
    """What a store's list holds: orders of several customers, one unpaid, one already shipped."""
    made = {
        "earlier": bought(server, "o_shop_lin", ("tee-basic-1-M", 2))["order_no"],
        "unpaid": bought(server, "o_shop_chen", ("coat-wool-1-M", 1), paid=False)["order_no"],
        "skirt": bought(server, "o_shop_zhou", ("skirt-pleated-1-M", 1))["order_no"],
        "dress": bought(server, "o_shop_mia", ("dress-floral-1-S", 1), ("lipbalm-1", 2))["order_no"],
    }
    return made


def first_digits(order_no: str, among: list[str]) -> str:
    """The fewest first digits (15 or more: past the second it was placed) that only this order number has."""
    size = 15
    while any(other != order_no and other.startswith(order_no[:size]) for other in among):
        size += 1
    return order_no[:size]


def open_orders(page: Page) -> None:
    page.click(".views .nav:has-text('订单')")
    expect(page.locator("#orders-view h2")).to_contain_text("订单")


def rows(page: Page) -> Any:
    return page.locator("tr[data-order]")


def test_an_admin_ships_one_order_and_refunds_part_of_another(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    add_person(shop, "boss", "老板", role=Role.ADMIN, groups=("售前",))
    # Given the buyer of the dress asked for a person in the mini-program's customer service
    SandboxCustomer(shop, "o_shop_mia", account="mp").says("人工")
    conversation = handoff_id_of(shop, "o_shop_mia")
    orders = a_day_of_orders(shop)
    # WeChat Pay (the sandbox) keeps refunds PROCESSING until the test settles them
    with shop.client() as http:
        http.post("/sandbox/control/pay/settings", json={"refunds_settle": False}).raise_for_status()
    boss = sign_in(browser, shop, problems, "boss")
    open_orders(boss)
    expect(boss).to_have_url(re.compile(r"/console#orders$"))
    # The list: newest first, amounts in yuan, states in Chinese
    expect(rows(boss)).to_have_count(4)
    expect(rows(boss).first).to_contain_text(orders["dress"])
    expect(rows(boss).first).to_contain_text("¥397.00")  # a dress of ¥259.00 and two lip balms of ¥69.00
    expect(boss.locator(f"tr[data-order='{orders['unpaid']}'] .badge")).to_have_text("待付款")
    expect(boss.locator(f"tr[data-order='{orders['skirt']}'] .badge")).to_have_text("已付款")
    expect(boss.locator("#orders-total")).to_have_text("共 4 单")
    # Filters: a state, an amount range in yuan (checked before asking), a customer
    boss.select_option("#filter-status", "paid")
    expect(rows(boss)).to_have_count(3)
    boss.fill("#filter-min", "158.5")
    boss.fill("#filter-max", "abc")
    boss.click("#apply-filters")
    expect(boss.locator("#filter-problem")).to_have_text("金额请填写元，最多两位小数，如 129.00")
    boss.fill("#filter-max", "300")
    boss.click("#apply-filters")
    expect(rows(boss)).to_have_count(1)
    expect(rows(boss).first).to_contain_text(orders["skirt"])
    boss.click("#reset-filters")
    expect(rows(boss)).to_have_count(4)
    boss.fill("#filter-customer", "o_shop_lin")
    boss.press("#filter-customer", "Enter")
    expect(rows(boss)).to_have_count(1)
    expect(rows(boss).first).to_contain_text("¥158.00")
    boss.click("#reset-filters")
    expect(rows(boss)).to_have_count(4)

    # The dress's page: items, amounts in yuan, the payment WeChat Pay reported, the customer and their chat
    boss.click(f"tr[data-order='{orders['dress']}']")
    expect(boss).to_have_url(re.compile(rf"#orders/{orders['dress']}$"))
    expect(boss.locator("#order-title")).to_have_text(orders["dress"])
    expect(boss.locator("h2 .badge")).to_have_text("已付款")
    expect(boss.locator("#order-items tbody tr")).to_have_count(2)
    expect(boss.locator("#order-money [data-money='amount']")).to_have_text("¥397.00")
    expect(boss.locator("#order-payments tbody tr")).to_have_count(1)
    expect(boss.locator("#order-payments tbody tr").first).to_contain_text("已入账")
    expect(boss.locator("#open-conversation")).to_have_attribute("href", f"#c/{conversation}")
    # It ships: the dialog checks the tracking number before sending anything
    boss.click("#ship-order")
    boss.fill("#ship-carrier", "顺丰速运")
    boss.fill("#ship-tracking", "SF 123")
    boss.click("#ship-submit")
    expect(boss.locator(".modal .field-error")).to_have_text("运单号为 4–40 位字母、数字或“-”")
    boss.fill("#ship-tracking", "SF1234567890")
    boss.click("#ship-submit")
    expect(boss.locator(".modal")).to_have_count(0)
    expect(boss.locator(".toast")).to_have_text("已发货：顺丰速运 SF1234567890")
    expect(boss.locator("h2 .badge")).to_have_text("已发货")
    expect(boss.locator("#order-shipping")).to_contain_text("顺丰速运")
    last = boss.locator("#order-events li").last
    expect(last).to_contain_text("已付款 → 已发货")
    expect(last.locator(".actor")).to_have_text("boss")
    expect(boss.locator("#ship-order")).to_have_count(0)

    # The skirt, found by the first digits of its number: ¥30.00 of its ¥159.00 back
    boss.click(".back-link")
    search = first_digits(orders["skirt"], list(orders.values()))
    boss.fill("#order-search", search)
    boss.press("#order-search", "Enter")
    expect(rows(boss)).to_have_count(1)
    rows(boss).first.click()
    expect(boss.locator("#order-title")).to_have_text(orders["skirt"])
    boss.go_back()  # the list is as it was left
    expect(boss.locator("#order-search")).to_have_value(search)
    expect(rows(boss)).to_have_count(1)
    rows(boss).first.click()
    boss.click("#refund-order")
    amount = boss.locator("#refund-amount")
    expect(amount).to_have_value("159.00")  # all that is left, by default
    amount.fill("160")
    boss.fill("#refund-reason", "少发赠品，补偿部分货款")
    boss.click("#refund-submit")
    expect(boss.locator("#refund-amount-error")).to_have_text("最多可退 ¥159.00")
    amount.fill("30")
    expect(boss.locator("#refund-submit")).to_have_text("确认退款 ¥30.00")
    boss.click("#refund-submit")
    expect(boss.locator(".toast")).to_have_text("已提交退款 ¥30.00，等待微信支付到账")
    refund = boss.locator("#order-refunds tbody tr").first
    expect(refund).to_contain_text("¥30.00")
    expect(refund.locator(".badge")).to_have_text("退款中")
    expect(refund.locator(".refund-by")).to_have_text("boss")
    expect(boss.locator("h2 .badge")).to_have_text("已付款")  # a partial refund leaves the state as it is
    # WeChat Pay returns the money, and says so in its signed refund notification
    with shop.client() as http:
        settled = http.post(f"/sandbox/control/pay/refunds/{orders['skirt']}R01/settle", json={"status": "SUCCESS"})
    assert settled.status_code == 200, settled.text
    boss.reload()
    expect(refund.locator(".badge")).to_have_text("已退款")
    expect(boss.locator("#order-money [data-money='refunded']")).to_have_text("¥30.00")
    expect(boss.locator("#order-money [data-money='refundable']")).to_have_text("¥129.00")
    boss.set_viewport_size(TALL)
    page_shot = tmp_path / "console-order.png"
    boss.screenshot(path=page_shot)

    # Back on the list: the day's orders as they now are
    boss.set_viewport_size(LAPTOP)
    boss.click(".back-link")
    expect(rows(boss)).to_have_count(4)
    expect(boss.locator(f"tr[data-order='{orders['dress']}'] .badge")).to_have_text("已发货")
    expect(boss.locator(f"tr[data-order='{orders['skirt']}']")).to_contain_text("已退 ¥30.00")
    listing = tmp_path / "console-orders.png"
    boss.screenshot(path=listing)

    # From an order to the buyer's conversation
    boss.goto(f"{shop.base_url}/console#orders/{orders['dress']}")
    boss.click("#open-conversation")
    expect(boss).to_have_url(re.compile(rf"#c/{conversation}$"))
    expect(boss.locator(".conversation .conv-title")).to_contain_text("o_shop_mia")

    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in (listing, page_shot):
            shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_an_agent_reads_an_order_but_cannot_move_it(
    browser: Browser, shop: LiveServer, problems: list[str],  # noqa: F811
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    order_no = bought(shop, "o_shop_agent_view", ("skirt-pleated-1-M", 1))["order_no"]
    wang = sign_in(browser, shop, problems, "wang")
    open_orders(wang)
    expect(rows(wang)).to_have_count(1)
    rows(wang).first.click()
    expect(wang.locator("h2 .badge")).to_have_text("已付款")
    expect(wang.locator("#order-items")).to_contain_text("百褶半身裙")
    expect(wang.locator("#order-money [data-money='refundable']")).to_have_text("¥159.00")
    # Read-only: no 发货, 退款 or 拒绝退款 for an agent, whatever the state allows
    expect(wang.locator(".order-actions")).to_have_count(0)
    expect(wang.locator("#ship-order, #refund-order, #decline-refund")).to_have_count(0)
    # The buyer's name, phone and door masked, with no way to reveal them
    expect(wang.locator("#address-name")).to_have_text("张* 138****8000")
    expect(wang.locator("#address-place")).to_have_text("广东省 广州市 天河区 ****")
    expect(wang.locator("#reveal-address")).to_have_count(0)
    # A link to an order opens it directly (the hash keeps the page)
    wang.goto(f"{shop.base_url}/console#orders/{order_no}")
    expect(wang.locator("#order-title")).to_have_text(order_no)
    wang.goto(f"{shop.base_url}/console#orders/20260101000000000000")
    expect(wang.locator("#order-missing")).to_have_text("没有订单 20260101000000000000")


def test_a_refund_wechat_pay_refuses_is_told_as_an_error_with_its_reason(
    browser: Browser, shop: LiveServer, problems: list[str],  # noqa: F811
) -> None:
    # Given an order our records hold as paid (transaction 4200…) that WeChat Pay's sandbox never saw paid
    order_no = bought(shop, "o_shop_wu", ("tee-basic-1-M", 1), paid=False)["order_no"]
    with transaction(shop.services.factory) as session:
        order = session.get(Order, order_no)
        assert order is not None
        apply_payment_notice(session, notice=PaymentNotice(
            appid=order_appid(shop), mchid=shop.services.settings.pay.mchid, out_trade_no=order_no,
            transaction_id="4200000000000000000000000001", trade_state="SUCCESS", amount_total=order.amount_fen,
            payer_openid="o_shop_wu", success_time=order.created_at, notification_id="n-refused"),
            expected_appid=order_appid(shop), expected_mchid=shop.services.settings.pay.mchid)
    add_person(shop, "boss", "老板", role=Role.ADMIN, groups=("售前",))
    boss = sign_in(browser, shop, problems, "boss")
    boss.goto(f"{shop.base_url}/console#orders/{order_no}")
    # When the admin refunds ¥10.00 of it
    boss.click("#refund-order")
    boss.locator("#refund-amount").fill("10")
    boss.fill("#refund-reason", "少发赠品")
    boss.click("#refund-submit")
    # Then the console says WeChat Pay refused it, and why; the refund's row says so too
    expect(boss.locator(".toast.error")).to_contain_text("微信支付拒绝了退款 ¥10.00：")
    refund = boss.locator("#order-refunds tbody tr").first
    expect(refund.locator(".badge")).to_have_text("退款失败")
    expect(boss.locator("#order-money [data-money='refunded']")).to_have_text("¥0.00")


def test_a_supervisor_finds_an_order_by_phone_and_reveals_the_address_saying_why(
    browser: Browser, shop: LiveServer, problems: list[str],  # noqa: F811
) -> None:
    bought(shop, "o_shop_other_phone", ("tee-basic-1-M", 1))
    buyer = Buyer(shop, "o_shop_reveal")
    assert buyer.post("/mp/cart/items", json={"sku_id": "skirt-pleated-1-M", "quantity": 1}).status_code == 200
    address = {"name": "欧阳娜娜", "phone": "13912345678", "province": "浙江省", "city": "杭州市", "district": "西湖区",
               "detail": "文三路 90 号"}
    order_no = buyer.post("/mp/checkout", json={"address": address}).json()["order_no"]
    add_person(shop, "zhou", "周主管", role=Role.SUPERVISOR, groups=())
    zhou = sign_in(browser, shop, problems, "zhou")
    open_orders(zhou)
    # Not a number: told so; a part of one finds nothing (addresses are sealed: only the whole number's hash is
    # looked up); the whole number, however spaced, finds the order
    zhou.fill("#filter-phone", "138 abc")
    zhou.click("#apply-filters")
    expect(zhou.locator("#filter-problem")).to_contain_text("完整号码")
    zhou.fill("#filter-phone", "1391234")
    zhou.click("#apply-filters")
    expect(zhou.locator(".order-list tbody")).to_contain_text("没有符合条件的订单")
    zhou.fill("#filter-phone", "139 1234 5678")
    zhou.click("#apply-filters")
    expect(rows(zhou)).to_have_count(1)
    rows(zhou).first.click()
    expect(zhou.locator("#order-title")).to_have_text(order_no)
    expect(zhou.locator("#address-name")).to_have_text("欧*** 139****5678")
    # Revealing asks why, then shows it whole and says the look was recorded
    zhou.click("#reveal-address")
    zhou.click("#reveal-submit")
    expect(zhou.locator(".modal .field-error")).to_contain_text("查看原因")
    zhou.fill("#reveal-reason", "客户来电核对地址")
    zhou.click("#reveal-submit")
    expect(zhou.locator("#address-name")).to_have_text("欧阳娜娜 13912345678")
    expect(zhou.locator("#address-place")).to_have_text("浙江省 杭州市 西湖区 文三路 90 号")
    expect(zhou.locator("#address-revealed")).to_be_visible()
    with shop.services.factory() as session:
        [reveal] = recent_reveals(session, limit=5, order_no=order_no)
    assert (reveal.username, reveal.reason) == ("zhou", "客户来电核对地址")
