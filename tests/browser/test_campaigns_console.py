"""The console's campaign pages (营销活动) in headless Chromium against a live server: a marketer signs in and
lands on the campaigns, writes one with the live audience count and the WeChat preview, schedules it, and
watches the server's campaign job send it through the sandbox until the progress bar is full and the
results (with their chart) show; the strict CSP holds throughout (Chart.js is a vendored file of this origin).

Needs Python Playwright and Debian's Chromium (see test_sandbox_page.py). With CHATSHOP_UPDATE_SCREENSHOTS=1
the README's campaign screenshots in docs/screenshots/ are taken again.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.outreach.campaigns import CampaignDraft, create_campaign, schedule_campaign
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.browser.test_console import LAPTOP, PASSWORD, SCREENSHOTS, add_person, open_page
from tests.browser.test_sandbox_page import HAVE_PLAYWRIGHT
from tests.staff.test_campaigns_api import consents, customer, opted_out
from tests.support import LiveServer

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.test_console import browser, problems  # noqa: F401  (fixtures)

TALL = {"width": 1366, "height": 1000}
SEND_MS = 15_000  # the campaign job runs every second here; planning and six sends through the sandbox


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A live server whose campaign job runs every second, with ten customers interested in coats: seven who
    accepted the new-arrival template in the mini-program (one of whom opted out since), and three who did not,
    two of them VIPs."""
    server = server_factory({"CHATSHOP__OUTREACH__CAMPAIGN_INTERVAL_S": "1"})
    for n in range(10):
        openid = f"o_coat_{n}"
        customer_id = customer(server, openid, "意向客户-大衣", *(("VIP",) if n >= 8 else ()))
        if n < 7:
            consents(server, customer_id, openid)
        if n == 6:
            opted_out(server, customer_id)
    return server


def earlier_campaigns(server: LiveServer) -> None:
    """What a store's list holds besides today's campaign: a draft and one scheduled for next week."""
    registry = server.services.outreach.registry()  # type: ignore[union-attr]
    now = utcnow()
    with transaction(server.services.factory) as session:
        create_campaign(session, draft=CampaignDraft(
            name="春节礼盒 预告", audience="VIP OR 已购-礼盒", template_id="sbx_mp_new_arrival",
            data={"thing1": "春节礼盒预售", "thing2": "老客户专享早鸟价", "time3": "2027-01-20 10:00"}),
            by="mei", registry=registry, now=now)
        later = create_campaign(session, draft=CampaignDraft(
            name="年货节 第一波", audience="意向客户-大衣 OR VIP", template_id="sbx_oa_new_arrival",
            data={"thing1": "年货节", "thing2": "满 300 减 50", "time3": "2027-01-10 10:00 ~ 2027-01-15 22:00"},
            throttle_per_s=50, holdout_pct=10), by="mei", registry=registry, now=now)
        session.flush()
        schedule_campaign(session, later.id, by="mei", registry=registry, now=now, at=now + timedelta(days=7))


def sign_in(chromium: Browser, server: LiveServer, found: list[str], username: str) -> Page:
    page = open_page(chromium, found, LAPTOP)
    page.goto(server.base_url + "/console")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    # A marketer's console puts its page in the hash as soon as it starts
    expect(page).to_have_url(re.compile(re.escape(server.base_url) + r"/console#campaigns$"))
    return page


def counted(page: Page, what: str) -> Locator:
    return page.locator(f"#audience-count [data-count='{what}']")


def test_a_marketer_writes_a_campaign_schedules_it_and_watches_it_send(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    add_person(shop, "mei", "美美", role=Role.MARKETER, groups=())
    earlier_campaigns(shop)
    # A marketer has no conversations: the console opens on the campaigns
    mei = sign_in(browser, shop, problems, "mei")
    expect(mei.locator("#campaigns-view h2")).to_contain_text("营销活动")
    expect(mei.locator(".views .nav")).to_have_text(["营销活动"])
    expect(mei.locator("#my-status")).to_have_count(0)
    expect(mei.locator("tr[data-campaign]")).to_have_count(2)

    mei.click("#new-campaign")
    mei.fill("#campaign-name", "冬季上新 羊毛大衣")
    # The audience is counted live as the expression changes, split by who can be sent to
    mei.fill("#campaign-audience", "意向客户-大衣")
    expect(counted(mei, "total")).to_have_text("10")
    expect(counted(mei, "with_credit")).to_have_text("6")
    expect(counted(mei, "opted_out")).to_have_text("1")
    expect(counted(mei, "without_credit")).to_have_text("3")
    mei.fill("#campaign-audience", "意向客户-大衣 AND")
    expect(mei.locator("#audience-error")).to_contain_text("表达式有误（第 12 个字符）")
    mei.fill("#campaign-audience", "意向客户-大衣 AND NOT VIP")
    expect(counted(mei, "total")).to_have_text("8")
    expect(counted(mei, "without_credit")).to_have_text("1")
    # The preview is the 服务通知 card, as the customer will see it: a long thing shortened with …
    preview = mei.locator("#notice-preview")
    expect(preview).to_contain_text("上新通知")
    expect(preview).to_contain_text("进入小程序查看")
    mei.fill("#field-thing1", "冬季上新")
    mei.fill("#field-thing2", "羊毛大衣新款到店，会员专享九折，满五百再减五十")
    mei.fill("#field-time3", "下周一")
    expect(mei.locator(".preview-problem")).to_contain_text("活动时间：时间，如 2026-12-04 15:01")
    expect(preview.locator(".wx-line.bad")).to_have_attribute("data-key", "time3")
    mei.fill("#field-time3", "2026-12-10 10:00 ~ 2026-12-12 22:00")
    expect(mei.locator(".preview-problem")).to_have_count(0)
    expect(preview.locator("[data-key='thing2'] dd")).to_have_text("羊毛大衣新款到店，会员专享九折，满五百…")
    expect(preview.locator("[data-key='thing1'] dd")).to_have_text("冬季上新")
    expect(mei.locator("#campaign-at")).to_be_visible()
    mei.fill("#campaign-holdout", "0")
    # The pages scroll inside the console's frame: a taller window shows a whole page in the picture.
    mei.set_viewport_size(TALL)
    form = tmp_path / "console-campaign-form.png"
    mei.screenshot(path=form)

    # Scheduled with no time: the job starts it at once, and the page follows it to the end
    expect(mei.locator("#schedule-campaign")).to_have_text("立即发送")
    mei.click("#schedule-campaign")
    expect(mei.locator("#campaign-title")).to_have_text("冬季上新 羊毛大衣")
    bar = mei.locator(".campaign-progress .progress")
    expect(bar).to_have_attribute("aria-valuenow", "8", timeout=SEND_MS)
    expect(bar).to_have_attribute("aria-valuemax", "8")
    expect(mei.locator(".campaign-progress .progress-text")).to_have_text("已发送 6 / 8")
    expect(mei.locator("h2 .badge")).to_have_text("已完成")
    results = mei.locator("#campaign-results")
    expect(results.locator("[data-tile='sent'] .tile-value")).to_have_text("6")
    expect(results.locator("[data-tile='skipped'] .tile-note")).to_contain_text("已退订 1")
    expect(results.locator("[data-tile='skipped'] .tile-note")).to_contain_text("未授权订阅 1")
    expect(results.locator("[data-chart='outcome'] canvas")).to_be_visible()
    mei.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 1")
    # No holdout: nothing to compare against, and the page says so instead of drawing empty bars
    expect(results.locator("[data-chart='lift']")).to_contain_text("没有对照组")
    expect(results.locator(".conversions tbody tr").first).to_contain_text("6")
    expect(mei.locator("#pause-campaign, #resume-campaign, #cancel-campaign")).to_have_count(0)
    finished = tmp_path / "console-campaign-results.png"
    mei.screenshot(path=finished)

    # The list: state badges and progress, today's campaign full
    mei.click(".back-link")
    rows = mei.locator("tr[data-campaign]")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("冬季上新 羊毛大衣")
    expect(rows.first.locator(".badge")).to_have_text("已完成")
    expect(rows.first.locator(".progress-text")).to_have_text("已发送 6 / 8")
    expect(rows.nth(1).locator(".badge")).to_have_text("已排期")
    expect(rows.nth(2).locator(".badge")).to_have_text("草稿")
    mei.set_viewport_size(LAPTOP)
    listing = tmp_path / "console-campaigns.png"
    mei.screenshot(path=listing)

    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in (listing, form, finished):
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
