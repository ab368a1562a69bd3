"""The sandbox page's WeChat Pay panel: the customer's orders, and paying one with its
「付款（发送微信支付通知）」 button.

The listing itself is checked over HTTP; the button in headless Chromium (skipped locally without
Playwright and Debian's Chromium, like tests/browser).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatshop.pay_wiring import build_pay_client
from tests.browser.test_sandbox_page import Page, expect, page  # noqa: F401  (the Chromium page fixture)
from tests.support import LiveServer
from tests.support.pay import OPENID, PaySandbox, new_out_trade_no
from wechat.pay import TradeState, WeChatPay


def prepay(client: WeChatPay, openid: str, description: str) -> str:
    out_trade_no = new_out_trade_no()
    client.prepay_jsapi(out_trade_no=out_trade_no, description=description, amount_fen=12800, payer_openid=openid,
                        time_expire=datetime.now(UTC) + timedelta(minutes=30))
    return out_trade_no


def test_the_control_api_lists_a_customers_orders_newest_first(pay_sandbox: PaySandbox) -> None:
    client = pay_sandbox.client()
    first = prepay(client, OPENID, "针织开衫")
    second = prepay(client, OPENID, "阔腿裤")
    prepay(client, "o_someone_else", "丝巾")
    listed = pay_sandbox.http.get("/control/pay/transactions", params={"openid": OPENID}).json()
    assert [o["out_trade_no"] for o in listed] == [second, first]
    assert listed[0]["trade_state"] == "NOTPAY" and listed[0]["description"] == "阔腿裤"
    assert len(pay_sandbox.http.get("/control/pay/transactions").json()) == 3


def test_the_sandbox_wide_reset_forgets_pay_orders_too(pay_sandbox: PaySandbox) -> None:
    prepay(pay_sandbox.client(), OPENID, "针织开衫")
    assert pay_sandbox.http.get("/control/pay/transactions").json()
    pay_sandbox.http.post("/control/reset").raise_for_status()
    assert pay_sandbox.http.get("/control/pay/transactions").json() == []


def test_the_customer_pays_an_order_from_the_sandbox_page(page: Page, server: LiveServer) -> None:  # noqa: F811
    # given an order prepaid for the customer the page plays
    client = build_pay_client(server.services.settings)
    assert client is not None
    out_trade_no = prepay(client, "o_page_customer", "法式碎花连衣裙")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.base_url + "/sandbox")
    page.fill("#openid", "o_page_customer")
    page.dispatch_event("#openid", "change")
    row = page.locator("#payorders .payorder", has_text=out_trade_no)
    expect(row).to_contain_text("¥128.00")
    # when the customer presses the pay button
    row.get_by_role("button", name="付款（发送微信支付通知）", exact=True).click()
    # then the page says so, the order is paid at WeChat Pay, and the button is gone
    expect(page.locator("#status")).to_contain_text(f"已支付 {out_trade_no}")
    expect(row).to_contain_text("支付成功")
    expect(row.get_by_role("button")).to_have_count(0)
    assert client.query(out_trade_no).trade_state == TradeState.SUCCESS
    assert errors == []
