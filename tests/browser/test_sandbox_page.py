"""The sandbox chat page in headless Chromium against a live server: what a person clicking through it sees.

Needs Python Playwright (dev extras) and Debian's Chromium at /usr/bin/chromium. Without them the test is
skipped locally and fails when CI is set (in CI nothing may be skipped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import DEMO_KB, LiveServer

try:
    from playwright.sync_api import Page, expect, sync_playwright

    HAVE_PLAYWRIGHT = True
except ImportError:  # the dev extras predate this test
    HAVE_PLAYWRIGHT = False

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
FAQS: list[dict[str, Any]] = yaml.safe_load(DEMO_KB.read_text(encoding="utf-8"))["faqs"]
UNKNOWN_QUESTION = "你们老板喜欢吃榴莲吗"
TIMEOUT_MS = 10_000  # replies through the API wait for the outbox poll (1 s); leave room on a busy CI machine


def require(available: bool, what: str) -> None:
    if available:
        return
    if "CI" in os.environ:
        pytest.fail(f"{what} is missing, and in CI nothing may be skipped", pytrace=False)
    pytest.skip(f"{what} is missing")


@pytest.fixture
def page() -> Iterator[Page]:
    require(HAVE_PLAYWRIGHT, "Python Playwright (pip install -e '.[dev]')")
    require(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def menu_questions(size: int) -> list[str]:
    """The "猜你想问" menu the bot builds: popular FAQs first, then the rest, each in file order."""
    ranked = [faq for faq in FAQS if faq.get("popular")] + [faq for faq in FAQS if not faq.get("popular")]
    return [faq["question"] for faq in ranked[:size]]


def faq_asked(question: str) -> dict[str, Any]:
    return next(faq for faq in FAQS if faq["question"] == question)


def test_a_customer_chats_with_the_bot_on_the_sandbox_page(page: Page, server: LiveServer, tmp_path: Path) -> None:
    bot = server.settings.bot
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    chat = page.locator("#chat")
    from_bot = chat.locator(".row.out")
    from_me = chat.locator(".row.in .bubble")

    def bot_says(text: str, via: str) -> None:
        """The bot's latest message: exactly `text`, labelled with how it was delivered."""
        latest = from_bot.last
        expect(latest.locator(".bubble")).to_have_text(text)
        expect(latest.locator(".via")).to_have_text(via)

    try:
        page.goto(server.base_url + "/sandbox")

        # 1. The customer picks the Official Account and follows it
        page.select_option("#account", value=server.account("oa").app_id)
        expect(page.locator("#title")).to_have_text("公众号")
        expect(chat).to_contain_text("点击右侧「关注」开始对话")
        page.click("#follow")
        expect(chat.locator(".note")).to_have_text(["你关注了公众号"])
        # The welcome comes back passively, the "猜你想问" menu through the customer-service API
        welcome = from_bot.filter(has_text=bot.welcome)
        expect(welcome.locator(".via")).to_have_text("被动回复")
        menu = from_bot.filter(has=page.locator(".menu-list"))
        expect(menu.locator(".via")).to_have_text("客服消息")
        expect(menu).to_contain_text(bot.menu_head)
        expect(menu).to_contain_text(bot.menu_tail)
        items = menu.locator(".menu-item")
        questions = menu_questions(bot.menu_size)
        expect(items).to_have_text(questions)

        # 2. Tapping the second item sends it and that FAQ's answer comes back
        items.nth(1).click()
        expect(from_me.last).to_have_text(questions[1])
        bot_says(faq_asked(questions[1])["answer"], "被动回复")

        # 3. A KB question in other words (one not on the menu) is answered; an unknown one gets the fallback
        faq = next(f for f in FAQS if f["question"] not in questions)
        page.fill("#text", faq["similar"][0])
        page.press("#text", "Enter")
        expect(from_me.last).to_have_text(faq["similar"][0])
        expect(page.locator("#text")).to_have_value("")
        bot_says(faq["answer"], "被动回复")
        page.fill("#text", UNKNOWN_QUESTION)
        page.click("#send")
        expect(from_me.last).to_have_text(UNKNOWN_QUESTION)
        bot_says(bot.fallback, "被动回复")

        # 4. The platform event "payment succeeded" only opens the 48-hour window: no order is paid
        window_button = page.locator("#paywindow")
        expect(window_button).to_have_text("模拟支付成功事件（打开 48 小时窗口）")
        window_button.click()
        expect(page.locator("#status")).to_have_text(
            "已记录一次支付成功：48 小时内客服消息不限条数（未付任何订单，未发支付通知）")
        with server.client() as http:
            customer = http.get("/sandbox/control/customer", params={
                "account": server.account("oa").app_id, "openid": page.input_value("#openid")}).json()
        assert customer["window"]["action"] == "payment" and customer["window"]["open"]
        expect(page.locator("#payorders")).to_have_text("暂无订单")
        page.screenshot(path=tmp_path / "sandbox-oa.png")

        # 5. On the mini-program, entering the session brings the welcome through the API, not passively
        page.select_option("#account", value=server.account("mp").app_id)
        expect(page.locator("#title")).to_have_text("小程序客服")
        expect(chat).to_contain_text("点击右侧「进入客服会话」开始对话")
        page.click("#enter")
        expect(chat.locator(".note")).to_have_text(["你进入了客服会话"])
        lines = "\n".join(f"· {question}" for question in questions)
        bot_says(f"{bot.mp_welcome}\n{bot.menu_head}\n{lines}", "客服消息")
        expect(page.locator("#status")).to_contain_text("无被动回复")
        expect(from_bot).to_have_count(1)  # the Official Account's conversation is not shown here
        expect(chat.locator(".menu-list")).to_have_count(0)  # mini-programs cannot send msgmenus
    finally:
        page.screenshot(path=tmp_path / "sandbox-page.png", full_page=True)
    assert errors == []
