"""The staff console (/console) in headless Chromium against a live server, with customers writing real
encrypted pushes through the sandbox: signing in (and the two refusals), each agent's own queue, claiming,
replying (WeChat records the custom/send), product cards, canned replies, resolving, the customer's rating,
live updates without a reload, WeChat's reply window, customer text shown as text, and the phone layout.

Needs what test_sandbox_page.py needs (Python Playwright, Debian's Chromium). With
CHATSHOP_UPDATE_SCREENSHOTS=1 the README's screenshots in docs/screenshots/ are taken again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.handoff.models import Handoff
from bot.models import Customer, ReplyWindow
from commerce.catalog import import_catalog, load_catalog_file
from staff.accounts import add_staff
from staff.config import StaffConfig
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.browser.test_sandbox_page import CHROMIUM, CHROMIUM_ARGS, HAVE_PLAYWRIGHT, require
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOG = ROOT / "chatshop" / "demo" / "catalog.yaml"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "console-password-1"
TIMEOUT_MS = 10_000
LIVE_MS = 2_000  # the console promises a second; leave a little room for a busy machine
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
STORE_ZONE = ZoneInfo("Asia/Shanghai")
COMPLAINT = "你们这服务态度太差了 气死我了"


def skill_groups() -> list[dict[str, Any]]:
    """Two groups always open, so that no test depends on the time it runs at, and VIP closed around
    today: its conversations wait in the queue even with agents online, for an agent to claim."""
    today = datetime.now(STORE_ZONE).date()
    closed = [str(today + timedelta(days=n)) for n in (-1, 0, 1)]
    return [
        {"name": "售前", "intents": ["product_search", "size_advice"]},
        {"name": "售后", "intents": ["complaint", "return_request"], "tags": ["售后", "投诉"]},
        {"name": "VIP", "tags": ["VIP"], "closed_dates": closed},
    ]


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server with two always-open skill groups and the demo catalog (for product cards)."""
    server = server_factory({"CHATSHOP__ROUTING__GROUPS": json.dumps(skill_groups(), ensure_ascii=False),
                             "CHATSHOP__STAFF__LOGIN_MAX_FAILURES": "3"})
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return server


@pytest.fixture
def browser() -> Iterator[Browser]:
    require(HAVE_PLAYWRIGHT, "Python Playwright (pip install -e '.[dev]')")
    require(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def problems() -> Iterator[list[str]]:
    """Script errors and CSP refusals of every console page a test opened: none are expected."""
    found: list[str] = []
    yield found
    assert found == []


def add_person(server: LiveServer, username: str, display_name: str, *, role: Role = Role.AGENT,
               groups: tuple[str, ...] = ("售前",), max_chats: int = 3) -> None:
    with transaction(server.services.factory) as session:
        add_staff(session, config=StaffConfig(), username=username, password=PASSWORD, role=role,
                  display_name=display_name, groups=groups, max_chats=max_chats)


def open_page(browser: Browser, problems: list[str], viewport: dict[str, int] = LAPTOP) -> Page:
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        # A refused request (401 before signing in, 409 of a refused reply) logs an error too; only script
        # errors and CSP refusals count.
        if message.type == "error" and ("Content Security Policy" in message.text or "Uncaught" in message.text):
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    return page


def sign_in(browser: Browser, server: LiveServer, problems: list[str], username: str,
            viewport: dict[str, int] = LAPTOP) -> Page:
    page = open_page(browser, problems, viewport)
    page.goto(server.base_url + "/console")
    expect(page).to_have_url(server.base_url + "/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(server.base_url + "/console")
    expect(page.locator("#logout")).to_be_visible()
    return page


def tab(page: Page, key: str) -> Any:
    return page.locator(f".tab[data-tab='{key}']")


def listed(page: Page) -> Any:
    return page.locator(".items .item")


def go_online(page: Page) -> None:
    page.select_option("#my-status", "online")
    expect(page.locator(".status-field .dot.online")).to_be_visible()


def handoff_id_of(server: LiveServer, openid: str) -> int:
    with server.services.factory() as session:
        found = session.scalar(select(Handoff.id).join(Customer, Customer.id == Handoff.customer_id)
                               .where(Customer.openid == openid).order_by(Handoff.id.desc()))
    assert found is not None, f"no handoff for {openid}"
    return found


def customer_id_of(server: LiveServer, openid: str) -> int:
    with server.services.factory() as session:
        found = session.scalar(select(Customer.id).where(Customer.openid == openid))
    assert found is not None, f"no customer {openid}"
    return found


def a_vip_asks_for_a_person(server: LiveServer, openid: str) -> SandboxCustomer:
    """A VIP customer asking for a person: queued in the closed VIP group, waiting for a claim."""
    customer = SandboxCustomer(server, openid)
    customer.says("在吗")
    with transaction(server.services.factory) as session:
        tag_customer(session, customer_id_of(server, openid), name="VIP", source=TagSource.STAFF, set_by="test",
                     now=utcnow())
    customer.says("人工")
    return customer


def api_texts(customer: SandboxCustomer) -> list[str]:
    return [str(entry["payload"].get("content", "")) for entry in customer.received_via_api()]


def wait_for_text(customer: SandboxCustomer, text: str) -> list[str]:
    got: list[str] = wait_until(lambda: api_texts(customer), lambda texts: text in texts)
    assert text in got, got
    return got


def test_login_says_what_went_wrong_and_logout_ends_the_session(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王")
    page = open_page(browser, problems)
    # Without a session the console goes to the login page
    page.goto(shop.base_url + "/console")
    expect(page).to_have_url(shop.base_url + "/console/login")
    error = page.locator("#login-error")
    # A wrong password: said plainly, without telling which of the two was wrong
    page.fill("#username", "wang")
    page.fill("#password", "not-the-password")
    with page.expect_response("**/staff/api/login"):
        page.click("#login-submit")
    expect(error).to_have_text("用户名或密码错误")
    expect(page.locator("#password")).to_have_value("")
    # After the limit (3 failures here) the account is locked out for a while, the right password or not
    for _ in range(3):
        page.fill("#password", "still-not-it")
        with page.expect_response("**/staff/api/login"):
            page.click("#login-submit")
    expect(error).to_contain_text("登录失败次数过多，账号已暂时锁定")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(error).to_contain_text("分钟后再试")
    expect(page).to_have_url(shop.base_url + "/console/login")

    # Another account signs in, and logs out again
    add_person(shop, "li", "小李")
    page.fill("#username", "li")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url(shop.base_url + "/console")
    expect(page.locator(".topbar .who")).to_have_text("小李 · 客服")
    expect(page).to_have_title("chatshop 客服台")
    page.click("#logout")
    expect(page).to_have_url(shop.base_url + "/console/login")
    page.goto(shop.base_url + "/console")
    expect(page).to_have_url(shop.base_url + "/console/login")


def test_typing_before_the_login_page_has_checked_the_session_keeps_what_was_typed(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    # Given a login page whose session check (/me) answers late, as on a slow network
    add_person(shop, "wang", "小王")
    page = open_page(browser, problems)
    held: list[Any] = []
    page.route("**/staff/api/me", lambda route: held.append(route))
    page.goto(shop.base_url + "/console/login")
    expect(page.locator("#username")).to_be_visible()
    # When the person types both fields before the answer comes
    page.fill("#username", "wang")
    page.fill("#password", PASSWORD)
    page.wait_for_timeout(200)
    assert len(held) == 1, "the session check is still waiting"
    with page.expect_response("**/staff/api/me"):
        held[0].continue_()
    page.wait_for_timeout(200)  # the page's own handler of the answer runs after the response arrives
    expect(page.locator("#password")).to_be_focused()
    # Then the answer (not signed in) does not move the cursor back to the username: nothing lands there
    page.keyboard.type("!")
    expect(page.locator("#username")).to_have_value("wang")
    expect(page.locator("#password")).to_have_value(PASSWORD + "!")


def test_two_agents_each_serve_their_own_queue_end_to_end(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王", groups=("售前", "VIP"))
    add_person(shop, "li", "小李", groups=("售后",))
    wang = sign_in(browser, shop, problems, "wang")
    li = sign_in(browser, shop, problems, "li")
    # 小王 goes online from the header; 小李 stays offline
    go_online(wang)
    angry = SandboxCustomer(shop, "o_console_angry")

    # Given two customers asking for a person: a VIP (whose group is closed today, so it waits for a
    # claim) and an angry one for after-sales
    buyer = a_vip_asks_for_a_person(shop, "o_console_buyer")
    angry.says(COMPLAINT)
    # Then each agent's 排队中 shows only their group's conversation, with how long it waits
    expect(listed(wang)).to_have_count(1)
    expect(listed(wang).first).to_contain_text("o_console_buyer")
    expect(listed(wang).first.locator(".chip").first).to_have_text("VIP")
    expect(listed(wang).first.locator(".wait")).to_contain_text("等待")
    expect(tab(wang, "queued").locator(".count")).to_have_text("1")
    expect(listed(li)).to_have_count(1)
    expect(listed(li).first).to_contain_text("o_console_angry")
    expect(listed(li).first.locator(".chip").first).to_have_text("售后")
    # and agents have no 全部 tab (supervisors do)
    expect(tab(wang, "all")).to_have_count(0)

    # When 小王 opens the conversation: the handoff summary is on top, the reply box waits for a claim
    listed(wang).first.click()
    conversation = wang.locator(".conversation")
    expect(conversation.locator(".summary")).to_contain_text("客户要求人工")
    expect(wang.locator("#reply-blocked")).to_have_text("领取此会话后即可回复")
    expect(wang.locator("#reply-text")).to_be_disabled()
    # and claims it
    wang.click("#claim")
    expect(conversation.locator(".conv-title .state")).to_have_text("接待中")
    expect(tab(wang, "mine").locator(".count")).to_have_text("1")
    expect(wang.locator("#reply-window")).to_contain_text("窗口")
    expect(wang.locator("#reply-window")).to_contain_text("关闭")

    # He replies with Enter; Shift+Enter makes a new line instead
    box = wang.locator("#reply-text")
    box.click()
    box.type("您好，我是小王")
    box.press("Shift+Enter")
    box.type("请问想看哪款？")
    expect(box).to_have_value("您好，我是小王\n请问想看哪款？")
    box.press("Enter")
    expect(box).to_have_value("")
    wait_for_text(buyer, "您好，我是小王\n请问想看哪款？")
    sent = wang.locator(".msg.out.agent").last
    expect(sent.locator(".bubble")).to_have_text("您好，我是小王\n请问想看哪款？")
    expect(sent.locator(".delivery")).to_have_text("已发送")

    # He sends a product card picked by search: WeChat records a miniprogrampage to the customer
    wang.click("#pick-product")
    wang.fill("#product-search", "连衣裙")
    first = wang.locator(".picker .product").first
    expect(first).to_contain_text("连衣裙")
    first.locator("button").click()
    cards = wait_until(lambda: [e for e in buyer.received_via_api() if e["msgtype"] == "miniprogrampage"],
                       lambda got: len(got) >= 1)
    assert len(cards) == 1 and "连衣裙" in cards[0]["payload"]["title"], cards
    expect(wang.locator(".msg.out.agent").last.locator(".bubble")).to_contain_text("连衣裙")

    # The customer writes: it shows in the open thread live, as text even when it looks like HTML
    dialogs: list[str] = []
    wang.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    buyer.says("<script>alert(1)</script><img src=x onerror=alert(2)>")
    incoming = wang.locator(".msg.in").last.locator(".bubble")
    expect(incoming).to_have_text("<script>alert(1)</script><img src=x onerror=alert(2)>", timeout=LIVE_MS)
    assert incoming.locator("script, img").count() == 0
    assert dialogs == []

    # He leaves an internal note: shown beside the thread, never sent
    wang.fill("#note-text", "客户想要 M 码")
    wang.click(".note-form button")
    expect(wang.locator("#notes .note")).to_contain_text(["客户想要 M 码"])
    assert "客户想要 M 码" not in api_texts(buyer)

    # He resolves it: the customer has the bot back and is asked for a rating
    wang.click("#resolve")
    expect(conversation.locator(".conv-title .state")).to_have_text("已解决")
    expect(wang.locator("#reply-blocked")).to_have_text("会话已解决，无法回复")
    expect(tab(wang, "mine").locator(".count")).to_have_text("0")
    rating = wait_until(lambda: [e for e in buyer.received_via_api() if e["msgtype"] == "msgmenu"],
                        lambda got: len(got) >= 1)
    assert rating, buyer.received_via_api()
    # The customer taps five stars: the conversation and 小王's figures show it
    handoff_id = handoff_id_of(shop, "o_console_buyer")
    buyer.taps(f"csat:{handoff_id}:5", "⭐⭐⭐⭐⭐ 非常满意")
    expect(wang.locator("#csat-score")).to_contain_text("★★★★★")
    wang.click(".views .nav:has-text('客服统计')")
    today = wang.locator("#stats-view table").first
    row = today.locator("tr[data-agent='wang']")
    expect(row).to_contain_text("小王")
    expect(row.locator(".score")).to_have_text("5.0")
    # 小李 never saw the buyer's conversation
    expect(listed(li)).to_have_count(1)
    expect(listed(li).first).to_contain_text("o_console_angry")


def test_a_new_assignment_arrives_live_with_a_badge_and_a_supervisor_reassigns_it(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    add_person(shop, "zhao", "小赵", groups=("售前",))
    add_person(shop, "boss", "老板", role=Role.SUPERVISOR, groups=("售前", "售后"))
    wang = sign_in(browser, shop, problems, "wang")
    boss = sign_in(browser, shop, problems, "boss")
    go_online(wang)
    tab(wang, "mine").click()
    expect(listed(wang)).to_have_count(0)
    expect(wang.locator(".live")).to_have_text("实时")

    # When a customer asks for a person while 小王 is online
    customer = SandboxCustomer(shop, "o_console_live")
    customer.says("人工")
    # Then it is his at once: in 我的, unread, with the count and the title's badge, without a reload
    expect(listed(wang)).to_have_count(1, timeout=LIVE_MS)
    expect(listed(wang).first.locator(".unread-dot")).to_be_visible()
    expect(tab(wang, "mine").locator(".count")).to_have_text("1")
    expect(wang).to_have_title("(1) chatshop 客服台")
    # Opening it reads it
    listed(wang).first.click()
    expect(listed(wang).first.locator(".unread-dot")).to_have_count(0)
    expect(wang).to_have_title("chatshop 客服台")

    # The supervisor sees every group's queue and every agent's load
    expect(tab(boss, "all")).to_be_visible()
    boss.click(".views .nav:has-text('监控')")
    supervise = boss.locator("#supervise-view")
    expect(supervise.locator("tr[data-group='售前']")).to_be_visible()
    expect(supervise.locator("tr[data-agent='wang']")).to_contain_text("在线")
    expect(supervise.locator("tr[data-agent='wang']")).to_contain_text("1/3")
    # and reassigns the conversation to 小赵, who has just come online
    zhao = sign_in(browser, shop, problems, "zhao")
    go_online(zhao)
    expect(supervise.locator("tr[data-agent='zhao']")).to_contain_text("在线", timeout=LIVE_MS)
    boss.click(".views .nav:has-text('会话')")
    tab(boss, "all").click()
    expect(tab(boss, "all").locator(".count")).to_have_text("1")
    expect(listed(boss)).to_have_count(1)
    listed(boss).filter(has_text="o_console_live").click()
    boss.click("#transfer")
    boss.select_option("#transfer-agent", "zhao")
    boss.click("#transfer-submit")
    expect(boss.locator(".conv-title")).to_contain_text("接待：小赵")
    # 小王's 我的 empties live, and 小赵's fills
    expect(tab(wang, "mine").locator(".count")).to_have_text("0", timeout=LIVE_MS)
    expect(tab(zhao, "mine").locator(".count")).to_have_text("1", timeout=LIVE_MS)


def test_canned_replies_are_managed_by_supervisors_and_expand_in_the_reply_box(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    add_person(shop, "boss", "老板", role=Role.SUPERVISOR, groups=("售前",))
    customer = SandboxCustomer(shop, "o_console_canned")
    customer.says("人工")
    # The supervisor adds /发货 from the reply box's dialog
    boss = sign_in(browser, shop, problems, "boss")
    listed(boss).first.click()
    boss.click("#manage-canned")
    boss.fill("#canned-shortcut", "发货")
    boss.fill("#canned-text", "亲，下单后 48 小时内从广州发货哦")
    boss.click("#canned-save")
    expect(boss.locator(".canned-list")).to_contain_text("/发货")
    # An agent has no such dialog, but the shortcut expands in his reply box with Tab
    wang = sign_in(browser, shop, problems, "wang")
    listed(wang).first.click()
    expect(wang.locator("#manage-canned")).to_have_count(0)
    go_online(wang)  # the waiting conversation is his at once
    expect(wang.locator(".conv-title")).to_contain_text("接待：小王")
    box = wang.locator("#reply-text")
    expect(box).to_be_enabled()
    box.click()
    box.type("/发")
    expect(wang.locator(".canned-suggestions")).to_contain_text("/发货")
    box.press("Tab")
    expect(box).to_have_value("亲，下单后 48 小时内从广州发货哦")
    box.press("Enter")
    wait_for_text(customer, "亲，下单后 48 小时内从广州发货哦")


def test_the_reply_box_turns_off_with_the_reason_when_the_window_closes(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    customer = SandboxCustomer(shop, "o_console_window")
    customer.says("人工")
    wang = sign_in(browser, shop, problems, "wang")
    listed(wang).first.click()
    go_online(wang)
    expect(wang.locator("#reply-text")).to_be_enabled()
    expect(wang.locator("#reply-window")).to_contain_text("还可发送")
    # The greeting's delivery is the last event that makes the page fetch the conversation again: once
    # it shows, the page holds the window it will send against.
    expect(wang.get_by_role("list", name="消息")).to_contain_text("已发送")
    # Given WeChat's 48 hours have run out since the customer last wrote
    with transaction(shop.services.factory) as session:
        customer_id = session.scalar(select(Customer.id).where(Customer.openid == "o_console_window"))
        session.execute(update(ReplyWindow).where(ReplyWindow.customer_id == customer_id)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
    # When he sends before the page knows, WeChat's refusal (409 REPLY_REFUSED) is shown, and the box turns off
    box = wang.locator("#reply-text")
    box.fill("还在吗？")
    box.press("Enter")
    expect(wang.locator("#reply-error")).to_contain_text("已超出 48 小时回复窗口")
    expect(wang.locator("#reply-error")).to_contain_text("WeChat's 48-hour reply window is closed")
    expect(box).to_be_disabled()
    assert "还在吗？" not in api_texts(customer)
    # and after a reload too, the box is off and says why
    wang.reload()
    expect(wang.locator("#reply-text")).to_be_disabled()
    expect(wang.locator("#reply-blocked")).to_contain_text("已超出 48 小时回复窗口，需等客户再次发消息")
    expect(wang.locator("#reply-window")).to_contain_text("回复窗口已于")
    expect(wang.locator("#send-reply")).to_be_disabled()
    # When the customer writes again, the window opens again live
    customer.says("还在吗")
    expect(wang.locator("#reply-text")).to_be_enabled(timeout=LIVE_MS)
    expect(wang.locator("#reply-window")).to_contain_text("还可发送")


def test_the_customer_panel_shows_tags_cart_and_orders_and_tags_can_change(
    browser: Browser, shop: LiveServer, problems: list[str],
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    customer = SandboxCustomer(shop, "o_console_tags")
    customer.says("人工")
    wang = sign_in(browser, shop, problems, "wang")
    listed(wang).first.click()
    panel = wang.locator(".customer")
    expect(panel).to_contain_text("o_console_tags")
    expect(panel.locator("#cart")).to_contain_text("购物车是空的")
    expect(panel.locator("#orders")).to_contain_text("暂无订单")
    wang.fill("#new-tag", "VIP")
    wang.press("#new-tag", "Enter")
    expect(panel.locator("#customer-tags .tag[data-tag='VIP']")).to_be_visible()
    # The inbox filters by tag and by group, counts included
    wang.fill("#tag-filter", "VIP")
    wang.press("#tag-filter", "Enter")
    expect(listed(wang)).to_have_count(1)
    wang.fill("#tag-filter", "老客户")
    wang.press("#tag-filter", "Enter")
    expect(listed(wang)).to_have_count(0)
    expect(tab(wang, "queued").locator(".count")).to_have_text("0")
    expect(wang.locator(".inbox .empty")).to_have_text("暂无会话")
    wang.fill("#tag-filter", "")
    wang.press("#tag-filter", "Enter")
    wang.select_option("#group-filter", "售后")
    expect(listed(wang)).to_have_count(0)
    wang.select_option("#group-filter", "售前")
    expect(listed(wang)).to_have_count(1)
    expect(tab(wang, "queued").locator(".count")).to_have_text("1")
    panel.locator("#customer-tags .tag[data-tag='VIP'] .remove").click()
    expect(panel.locator("#customer-tags .tag[data-tag='VIP']")).to_have_count(0)


def test_on_a_phone_the_list_and_the_conversation_take_turns(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,
) -> None:
    add_person(shop, "wang", "小王", groups=("售前",))
    SandboxCustomer(shop, "o_console_phone").says("人工")
    wang = sign_in(browser, shop, problems, "wang", viewport=PHONE)
    expect(listed(wang)).to_have_count(1)
    listed(wang).first.click()
    expect(wang.locator(".inbox")).to_be_hidden()
    expect(wang.locator(".conv-head .back")).to_be_visible()
    expect(wang.locator("#claim")).to_be_visible()
    wang.screenshot(path=tmp_path / "console-phone.png")
    wang.click(".conv-head .back")
    expect(wang.locator(".inbox")).to_be_visible()
    # Nothing sticks out sideways
    assert wang.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_screenshots_of_the_inbox_and_a_conversation(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,
) -> None:
    """The README's pictures: a busy morning for 小王. Kept in tmp_path, copied to docs/screenshots/ with
    CHATSHOP_UPDATE_SCREENSHOTS=1."""
    add_person(shop, "wang", "小王", groups=("售前", "售后"), max_chats=5)
    for openid, words in (("o_8Jx2kLm", "人工"), ("o_3Fq9wZa", COMPLAINT), ("o_7Hn4cVb", "转人工")):
        SandboxCustomer(shop, openid).says(words)
    buyer = SandboxCustomer(shop, "o_5Tg1pQr")
    buyer.says("有没有连衣裙")
    buyer.says("我想找人问问尺码")
    buyer.says("人工")
    wang = sign_in(browser, shop, problems, "wang")
    expect(listed(wang)).to_have_count(4)
    listed(wang).filter(has_text="o_3Fq9wZa").click()
    expect(wang.locator("#reply-blocked")).to_have_text("领取此会话后即可回复")
    inbox = tmp_path / "console-inbox.png"
    wang.screenshot(path=inbox)

    listed(wang).filter(has_text="o_5Tg1pQr").click()
    go_online(wang)
    expect(wang.locator(".conv-title")).to_contain_text("接待：小王")
    wang.fill("#new-tag", "意向客户-连衣裙")
    wang.press("#new-tag", "Enter")
    expect(wang.locator("#customer-tags")).to_contain_text("意向客户-连衣裙")
    box = wang.locator("#reply-text")
    box.fill("您好，我是小王～这款碎花连衣裙平时穿 M 的话建议选 M，腰身偏修身")
    box.press("Enter")
    wait_for_text(buyer, "您好，我是小王～这款碎花连衣裙平时穿 M 的话建议选 M，腰身偏修身")
    buyer.says("好的，那我要 M 码，今天能发货吗？")
    expect(wang.locator(".msg.in").last).to_contain_text("今天能发货吗")
    expect(wang.locator(".msg.out.agent .delivery").last).to_have_text("已发送")
    tab(wang, "mine").click()
    expect(listed(wang)).to_have_count(4)
    conversation = tmp_path / "console-conversation.png"
    wang.screenshot(path=conversation)

    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inbox, SCREENSHOTS / "console-inbox.png")
        shutil.copyfile(conversation, SCREENSHOTS / "console-conversation.png")
