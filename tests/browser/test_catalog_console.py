"""The console's catalog page (商品) in headless Chromium against a live server: an admin finds a product, edits
a SKU's stock (refused below what an order awaiting payment holds, then set), its price in yuan, exports the
catalog as XLSX and CSV, and imports a file with a bad row (the report names the row; nothing is applied, in
the page or the database), then the fixed file, which is applied after 确认导入.

Needs Python Playwright and Debian's Chromium (see test_sandbox_page.py). With CHATSHOP_UPDATE_SCREENSHOTS=1
the README's catalog screenshots in docs/screenshots/ are taken again.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from commerce.catalog import import_catalog, load_catalog_file
from commerce.models import Sku
from staff.roles import Role
from storage.db import transaction
from tests.browser.test_console import SCREENSHOTS, add_person, sign_in
from tests.browser.test_sandbox_page import HAVE_PLAYWRIGHT
from tests.commerce.test_catalog_io import catalog_now, coat, csv_file, xlsx_file
from tests.support import LiveServer
from tests.support.commerce import checkout, stock_of

if HAVE_PLAYWRIGHT:
    from playwright.sync_api import Browser, Page, expect

from tests.browser.test_console import browser, problems  # noqa: F401  (fixtures)

DEMO_CATALOG = Path(__file__).resolve().parents[2] / "chatshop" / "demo" / "catalog.yaml"
TALL = {"width": 1366, "height": 1000}


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The demo store's catalog, with two units of one SKU in an order awaiting payment."""
    server = server_factory()
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(DEMO_CATALOG))
    return server


def first_sku(server: LiveServer) -> tuple[str, str, int]:
    """(product id, SKU id, units) of the demo catalog's first SKU with at least 5 units."""
    with server.services.factory() as session:
        sku = session.scalars(select(Sku).where(Sku.stock >= 5).order_by(Sku.product_id, Sku.position)).first()
        assert sku is not None
        return sku.product_id, sku.sku_id, sku.stock


def open_catalog(chromium: Browser, server: LiveServer, found: list[str]) -> Page:
    add_person(server, "boss", "店长", role=Role.ADMIN, groups=())
    page = sign_in(chromium, server, found, "boss")
    page.click(".views .nav[data-view='catalog']")
    expect(page.locator("#catalog-view h2")).to_contain_text("商品")
    return page


def test_an_admin_edits_stock_and_price_and_sees_a_refusal_below_reserved(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    product_id, sku_id, units = first_sku(shop)
    checkout(shop.services.factory, "o_console_1", {sku_id: 2})
    page = open_catalog(browser, shop, problems)
    row = page.locator(f"tr[data-product='{product_id}']")
    expect(row.locator("[data-col='reserved']")).to_have_text("2")
    page.set_viewport_size(TALL)
    listing = tmp_path / "console-catalog.png"
    page.screenshot(path=listing)

    # Search narrows the list; the product opens on its own page
    title = row.locator(".product-title").inner_text()
    page.fill("#catalog-search", title)
    expect(page.locator("tr[data-product]")).to_have_count(1)
    row.click()
    expect(page.locator("#product-title")).to_contain_text(title)
    sku = page.locator(f"tr[data-sku='{sku_id}']")
    expect(sku.locator("[data-col='reserved']")).to_have_text("2")
    expect(sku.locator("[data-col='available']")).to_have_text(str(units - 2))
    expect(sku.locator(".stock-input")).to_have_value(str(units))

    # Below the 2 units the order holds: refused, said in the row, nothing changed
    sku.locator(".stock-input").fill("1")
    sku.locator(".save-sku").click()
    expect(sku.locator("[data-error='stock']")).to_contain_text("2 件被待付款订单占用")
    assert stock_of(shop.services.factory, sku_id) == units - 2
    expect(sku.locator("[data-col='available']")).to_have_text(str(units - 2))

    # 10 more counted on hand than before: all 10 can be bought; and a new price in yuan, kept exactly in fen
    sku.locator(".stock-input").fill(str(units + 10))
    sku.locator(".price-input").fill("239.90")
    sku.locator(".save-sku").click()
    expect(page.locator(".toast")).to_contain_text(f"SKU {sku_id} 已保存")
    expect(sku.locator("[data-col='available']")).to_have_text(str(units + 8))
    expect(sku.locator(".save-sku")).to_be_disabled()
    assert stock_of(shop.services.factory, sku_id) == units + 8
    with shop.services.factory() as session:
        saved = session.get(Sku, sku_id)
        assert saved is not None and saved.price_fen == 23990

    # A bad price never leaves the page
    sku.locator(".price-input").fill("12.345")
    sku.locator(".save-sku").click()
    expect(sku.locator("[data-error='price']")).to_contain_text("最多两位小数")
    page.screenshot(path=tmp_path / "console-catalog-product.png")

    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in (listing, tmp_path / "console-catalog-product.png"):
            shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_an_import_with_a_bad_row_changes_nothing_and_the_fixed_file_is_applied(
    browser: Browser, shop: LiveServer, problems: list[str], tmp_path: Path,  # noqa: F811
) -> None:
    page = open_catalog(browser, shop, problems)
    products = page.locator("tr[data-product]")
    expect(products.first).to_be_visible()
    count = products.count()

    # The export downloads real files
    with page.expect_download() as downloading:
        page.click("#export-xlsx")
    exported = tmp_path / "catalog.xlsx"
    downloading.value.save_as(exported)
    sheet = load_workbook(exported).worksheets[0]
    assert sheet.cell(1, 1).value == "product_id" and sheet.max_row > count
    with page.expect_download() as downloading:
        page.click("#export-csv")
    text = Path(downloading.value.path()).read_bytes().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(text)))) == sheet.max_row

    # A file whose third row has a negative price: the report names it, 确认导入 stays off
    bad = tmp_path / "new-coats.csv"
    bad.write_bytes(csv_file([coat(), coat("coat-grey-L", price_yuan="-899", specs="颜色=灰色;尺码=L")]))
    before = catalog_now(shop.services.factory)
    page.click("#import-catalog")
    page.set_input_files("#import-file", str(bad))
    report = page.locator("#import-report")
    problem = report.locator(".import-problems tr[data-row='3']")
    expect(problem).to_contain_text("第 3 行")
    expect(problem).to_contain_text("price_yuan")
    expect(problem).to_contain_text("不能为负数")
    expect(report.locator("[data-count='new_products']")).to_have_text("1")
    expect(page.locator("#confirm-import")).to_be_disabled()
    page.set_viewport_size(TALL)
    shot = tmp_path / "console-catalog-import.png"
    page.screenshot(path=shot)
    page.keyboard.press("Escape")
    assert catalog_now(shop.services.factory) == before
    expect(products).to_have_count(count)
    expect(page.locator("tr[data-product='coat']")).to_have_count(0)

    # Fixed (and as XLSX this time): the report lists the changes, 确认导入 applies them
    fixed = tmp_path / "new-coats.xlsx"
    fixed.write_bytes(xlsx_file([coat(), coat("coat-grey-L", price_yuan="919.90", stock=3, specs="颜色=灰色;尺码=L")]))
    page.click("#import-catalog")
    page.set_input_files("#import-file", str(fixed))
    expect(report.locator("[data-count='new_skus']")).to_have_text("2")
    expect(report.locator(".import-problems")).to_have_count(0)
    expect(report.locator(".import-changes tr[data-what='new_sku']")).to_have_count(2)
    page.click("#confirm-import")
    expect(page.locator(".toast")).to_contain_text("已导入 new-coats.xlsx")
    expect(page.locator("tr[data-product='coat']")).to_contain_text("¥899.00 – ¥919.90")
    expect(products).to_have_count(count + 1)
    with shop.services.factory() as session:
        grey_l = session.get(Sku, "coat-grey-L")
        assert grey_l is not None and (grey_l.price_fen, grey_l.stock) == (91990, 3)

    if os.environ.get("CHATSHOP_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOTS / shot.name)


def test_the_page_says_when_there_is_no_product_yet(
    browser: Browser, server_factory: Callable[..., LiveServer], problems: list[str],  # noqa: F811
) -> None:
    server = server_factory()
    page = open_catalog(browser, server, problems)
    expect(page.locator(".catalog-empty")).to_contain_text("还没有商品")
