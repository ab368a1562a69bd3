"""The 数据 page in headless Chromium against a live server. Customers browse through the mini-program API
with the page's `src`, add to cart, check out and pay through the sandbox's signed WeChat Pay notification;
after the roll-up an admin reads exactly those figures on the overview, funnel and sources tabs, and
downloads a table as CSV. The strict CSP holds throughout (Chart.js is a vendored file of this origin).

With CHATSHOP_UPDATE_SCREENSHOTS=1 the README's screenshots (docs/screenshots/console-data*.png) are taken
again, of a store with the demo history `chatshop seed` writes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from chatshop.analytics_demo import seed_demo_history
from chatshop.commerce_cli import DEMO_CATALOG
from commerce.catalog import import_catalog, load_catalog_file
from commerce.models import Order
from commerce.orders import get_order, order_history
from staff.roles import Role
from storage.db import transaction
from tests.browser.test_console import LAPTOP, PASSWORD, SCREENSHOTS, add_person, open_page
from tests.browser.test_sandbox_page import HAVE_PLAYWRIGHT
from tests.staff.test_analytics_api import trade
from tests.support import LiveServer

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, Page, expect

from tests.browser.test_console import browser, problems  # noqa: F401  (fixtures)

TALL = {"width": 1366, "height": 1500}


def sign_in_to_numbers(chromium: Browser, server: LiveServer, found: list[str], username: str,
                       viewport: dict[str, int] = LAPTOP) -> Page:
    page = open_page(chromium, found, viewport)
    page.goto(server.base_url + "/console")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#logout")).to_be_visible()
    page.click(".views .nav[data-view='data']")
    expect(page.locator("#dashboard-view h2")).to_have_text("数据")
    return page


def test_the_dashboard_shows_what_the_customers_did(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    order_no = trade(shop)  # Ann pays for two T-shirts (2 × ¥79.00) opened from a chat card
    assert order_no
    add_person(shop, "boss", "老板", role=Role.ADMIN, groups=())
    page = sign_in_to_numbers(browser, shop, problems, "boss")

    # Overview: today's tiles and the periods table, against nothing before
    expect(page.locator(".tile[data-figure='gmv_fen'] .tile-value")).to_have_text("¥158.00")
    expect(page.locator(".tile[data-figure='orders'] .tile-value")).to_have_text("1")
    expect(page.locator(".tile[data-figure='customers'] .tile-value")).to_have_text("1")
    expect(page.locator(".tile[data-figure='aov_fen'] .tile-value")).to_have_text("¥158.00")
    expect(page.locator(".tile[data-figure='refunds'] .tile-value")).to_have_text("0")
    thirty = page.locator("#overview-table tr[data-period='30d'] td[data-metric='gmv_fen']")
    expect(thirty).to_contain_text("¥158.00")
    expect(page.locator("#heatmap td.hot")).to_have_count(1)
    expect(page.locator("#heatmap td.hot")).to_have_text("1")
    expect(page.locator(".dash-fresh")).to_contain_text("数据更新于")

    # Funnel: two customers viewed, both carted and checked out, one paid
    page.click(".dash-tab[data-tab='funnel']")
    for stage, people in (("view", "2"), ("cart", "2"), ("checkout", "2"), ("paid", "1")):
        expect(page.locator(f".tile[data-stage='{stage}'] .tile-value")).to_have_text(people)
    expect(page.locator(".tile[data-stage='view'] .tile-note")).to_have_text("5 次")  # one view without a login
    expect(page.locator(".tile[data-rate='view_to_cart'] .tile-value")).to_have_text("100.0%")
    expect(page.locator(".tile[data-rate='cart_to_paid'] .tile-value")).to_have_text("50.0%")
    tee = page.locator("#funnel-products tr[data-product='tee-basic']")
    expect(tee).to_contain_text("纯棉圆领T恤")
    expect(tee.locator("td[data-stage='paid']")).to_have_text("1")
    expect(page.locator("[data-ranking='cart-to-paid'] li").first).to_contain_text("纯棉圆领T恤")
    expect(page.locator("[data-chart='funnel'] canvas")).to_be_visible()

    # Sources: the order came from the chat card
    page.click(".dash-tab[data-tab='sources']")
    card = page.locator("#sources-table tr[data-src='card']")
    expect(card.locator("td[data-col='orders']")).to_have_text("1")
    expect(card.locator("td[data-col='gmv']")).to_have_text("¥158.00")
    expect(page.locator("#sources-table tr[data-src='share'] td[data-col='orders']")).to_have_text("0")

    # Every table downloads as CSV, in yuan
    with page.expect_download() as download:
        page.click("[data-section='sources'] a[data-csv='sources']")
    saved = tmp_path / "sources.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "来源,支付订单,GMV(元),支付人数"
    assert "聊天商品卡片,1,158.00,1" in text.splitlines()

    page.click(".dash-tab[data-tab='repeat']")
    expect(page.locator(".tile[data-figure='repeat_7d'] .tile-value")).to_have_text("—")  # nobody had 7 days yet


@pytest.fixture
def demo_store(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A store with the demo catalog and the sixty days of history `chatshop seed` writes."""
    server = server_factory()
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    assert seed_demo_history(server.services.factory, timezone="Asia/Shanghai") > 100
    # the demo's orders are orders like any other: each one's page opens
    with server.services.factory() as session:
        for order_no in session.scalars(select(Order.order_no).limit(20)):
            order = get_order(session, order_no=order_no)
            assert order.order_no == order_no
            history = [event.to_status for event in order_history(session, order_no=order_no)]
            assert history[:2] == ["pending_payment", "paid"] and history[-1] == order.status
    return server


def test_the_demo_history_fills_every_tab(
    browser: Browser, demo_store: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    add_person(demo_store, "boss", "老板", role=Role.ADMIN, groups=())
    page = sign_in_to_numbers(browser, demo_store, problems, "boss", TALL)
    expect(page.locator("#heatmap td.hot").first).to_be_visible()
    expect(page.locator("#overview-table tbody tr")).to_have_count(4)
    shots = [tmp_path / "console-data.png"]
    page.screenshot(path=str(shots[-1]), full_page=True)

    page.click(".dash-tab[data-tab='funnel']")
    expect(page.locator("#funnel-products tbody tr").first).to_be_visible()
    expect(page.locator("[data-chart='funnel'] canvas")).to_be_visible()
    page.wait_for_timeout(300)  # the chart's first frame (animation is off)
    shots.append(tmp_path / "console-data-funnel.png")
    page.screenshot(path=str(shots[-1]), full_page=True)

    page.click(".dash-tab[data-tab='sources']")
    expect(page.locator("#sources-table tr[data-src='card'] td[data-col='orders']")).not_to_have_text("0")
    page.click(".dash-periods button[data-days='90']")
    expect(page).to_have_url(demo_store.base_url + "/console#data/sources/90")
    page.wait_for_timeout(300)
    shots.append(tmp_path / "console-data-sources.png")
    page.screenshot(path=str(shots[-1]), full_page=True)

    page.click(".dash-tab[data-tab='repeat']")
    expect(page.locator("#repeat-cohorts tbody tr")).to_have_count(12)
    shots.append(tmp_path / "console-data-repeat.png")
    page.screenshot(path=str(shots[-1]), full_page=True)
    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
