"""The mini-program's pages as a customer's phone shows them, photographed in Chromium.

miniprogram/client/test/pages-html.test.js renders 首页, 商品详情, 购物车, 结算 and 订单详情 with
miniprogram-simulate against a real `chatshop serve` and writes them, with their WXSS as CSS, to one HTML
file; this test opens it at a 375 px phone width per page, checks what a customer would see, and takes
the picture. With CHATSHOP_UPDATE_SCREENSHOTS=1 the picture replaces docs/screenshots/miniprogram-pages.png.

Needs node with the client's node_modules (npm --prefix miniprogram/client ci), Python Playwright and
Debian's Chromium; without them the test is skipped locally and fails when CI is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.browser.test_sandbox_page import CHROMIUM, CHROMIUM_ARGS, HAVE_PLAYWRIGHT, require

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "miniprogram" / "client"
SCREENSHOT = REPO / "docs" / "screenshots" / "miniprogram-pages.png"
PAGES = ["首页", "商品详情", "购物车", "结算", "订单详情"]


def render_pages(html: Path) -> None:
    npx = shutil.which("npx")
    require(npx is not None and (CLIENT / "node_modules" / ".bin" / "jest").exists(),
            "node with the client's node_modules (npm --prefix miniprogram/client ci)")
    assert npx is not None
    env = os.environ | {"CHATSHOP_PAGES_HTML": str(html)}
    done = subprocess.run([npx, "jest", "test/pages-html.test.js"], cwd=CLIENT, env=env, capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0 and html.exists(), done.stdout[-3000:] + done.stderr[-3000:]


def test_the_pages_render_at_phone_width_and_are_photographed(tmp_path: Path) -> None:
    require(HAVE_PLAYWRIGHT, "Python Playwright (pip install -e '.[dev]')")
    require(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    html = tmp_path / "pages.html"
    render_pages(html)
    picture = tmp_path / "miniprogram-pages.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, device_scale_factor=2, locale="zh-CN")
            page.goto(html.as_uri())
            page.evaluate("document.fonts.ready")
            captions = page.locator(".caption").all_inner_texts()
            assert [c.split("pages/")[0].strip() for c in captions] == PAGES
            # Each page is a phone's width, and nothing on it is wider than the screen.
            widths = page.eval_on_selector_all(".phone", "els => els.map(e => e.getBoundingClientRect().width)")
            assert widths == [375] * 5
            overflow = page.eval_on_selector_all(".screen-inner", "els => els.map(e => e.scrollWidth)")
            assert all(width <= 375 for width in overflow), overflow
            # The served pictures are in the file and decoded; the Chinese text has a CJK font.
            images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert images and all(width > 0 for width in images), images
            assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '购物车')")
            # What the customer sees: the picked SKU, the ticked line's total, the paid order.
            product, cart, order = (page.locator(f".frame-{name} .screen").inner_text()
                                    for name in ("product", "cart", "order"))
            assert "已选：M / 雾蓝" in product
            assert "¥518.00" in cart and "结算(2)" in cart
            assert "待发货" in order
            page.screenshot(path=str(picture), full_page=True)
        finally:
            browser.close()
    assert picture.stat().st_size > 50_000  # a real picture, not a blank page
    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(picture, SCREENSHOT)
