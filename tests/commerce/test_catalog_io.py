"""The back office's catalog operations: prices in yuan to fen exactly, stock on hand never below what
orders awaiting payment hold, and spreadsheets (XLSX and CSV, real files) exported, checked row by row
with nothing applied, applied all or nothing, and round-tripped unchanged."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.catalog_edits import (
    NewSku,
    StockBelowReserved,
    add_product,
    add_sku,
    edit_product,
    edit_sku,
    reserved_units,
    set_stock_on_hand,
    yuan_to_fen,
)
from commerce.catalog_io import (
    COLUMNS,
    ImportRefused,
    check_catalog_table,
    export_catalog_csv,
    export_catalog_xlsx,
    import_catalog_table,
)
from commerce.errors import InvalidInput, NotFound
from commerce.models import Product, Sku
from commerce.orders import cancel_order
from storage.db import transaction
from tests.support.commerce import checkout, stock_of

Row = dict[str, Any]


def xlsx_file(rows: list[Row], columns: tuple[str, ...] = COLUMNS) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(column) for column in columns])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_file(rows: list[Row], columns: tuple[str, ...] = COLUMNS, encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row.get(column) for column in columns])
    return out.getvalue().encode(encoding)


def coat(sku_id: str = "coat-grey-M", **changes: Any) -> Row:
    return {"product_id": "coat", "title": "羊毛大衣", "category": "女装", "description": "双面羊毛",
            "images": "", "product_on_sale": "是", "sku_id": sku_id, "specs": "颜色=灰色;尺码=M",
            "price_yuan": "899.00", "stock": 10, "sku_on_sale": "是", **changes}


def catalog_now(factory: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    """Everything an import could change, to compare before and after."""
    with factory() as session:
        products = [(p.id, p.title, p.category, p.description, tuple(p.images), p.active)
                    for p in session.scalars(select(Product).order_by(Product.id))]
        skus = [(s.sku_id, s.product_id, tuple(s.specs.items()), s.price_fen, s.stock, s.active)
                for s in session.scalars(select(Sku).order_by(Sku.sku_id))]
    return products + skus


# ----- money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "fen"), [
    ("259", 25900), ("259.9", 25990), ("19.99", 1999), ("0.01", 1), ("¥12.30", 1230), ("12元", 1200),
    (19.99, 1999), (0.29, 29), (1.1, 110), (899, 89900),
])
def test_prices_typed_in_yuan_become_fen_exactly(typed: Any, fen: int) -> None:
    assert yuan_to_fen(typed) == fen


@pytest.mark.parametrize("typed", ["0", "0.00", "-5", "1.234", "abc", "", "1e3", "10000001", True, None, -1.5])
def test_prices_that_are_not_a_price_are_refused_naming_the_field(typed: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        yuan_to_fen(typed)
    assert refused.value.field == "price_yuan"


# ----- stock on hand --------------------------------------------------------------------------------


def test_stock_is_set_on_hand_and_never_below_what_orders_awaiting_payment_hold(
    store: sessionmaker[Session],
) -> None:
    # given 5 red M dresses, 2 of them in an order awaiting payment (so 3 are left to buy)
    order_no = checkout(store, "o_edit_1", {"dress-test-red-M": 2})
    assert stock_of(store, "dress-test-red-M") == 3
    with store() as session:
        assert reserved_units(session, ["dress-test-red-M", "dress-test-red-L"]) == {"dress-test-red-M": 2}
    # when staff count 1 on hand: refused, the 2 reserved are promised
    with pytest.raises(StockBelowReserved) as refused, transaction(store) as session:
        set_stock_on_hand(session, sku_id="dress-test-red-M", stock=1)
    assert refused.value.reserved == 2 and refused.value.field == "stock"
    assert refused.value.details()["reserved"] == 2
    assert stock_of(store, "dress-test-red-M") == 3
    # when they count 8: 6 are left to buy, the 2 reserved stay reserved
    with transaction(store) as session:
        level = set_stock_on_hand(session, sku_id="dress-test-red-M", stock=8)
    assert (level.on_hand, level.reserved, level.available) == (8, 2, 6)
    assert stock_of(store, "dress-test-red-M") == 6
    # exactly the reserved units is allowed: nothing left to buy
    with transaction(store) as session:
        assert set_stock_on_hand(session, sku_id="dress-test-red-M", stock=2).available == 0
    # once the order is cancelled its units come back to be bought
    with transaction(store) as session:
        cancel_order(session, order_no=order_no, reason="test", actor="customer")
    assert stock_of(store, "dress-test-red-M") == 2
    with pytest.raises(NotFound), transaction(store) as session:
        set_stock_on_hand(session, sku_id="no-such-sku", stock=1)
    with pytest.raises(InvalidInput), transaction(store) as session:
        set_stock_on_hand(session, sku_id="dress-test-red-M", stock=-1)


# ----- products and SKUs ----------------------------------------------------------------------------


def test_products_and_skus_are_added_and_edited_with_every_bad_value_refused(store: sessionmaker[Session]) -> None:
    first = NewSku(sku_id="coat-grey-M", specs={"颜色": "灰色"}, price_fen=89900, stock=4)
    with transaction(store) as session:
        add_product(session, product_id="coat", title="羊毛大衣", category="女装", description="", first_sku=first)
        add_sku(session, product_id="coat", sku=NewSku(sku_id="coat-grey-L", specs={"颜色": "灰色"},
                                                        price_fen=89900, stock=2))
        edit_product(session, product_id="coat", title="双面羊毛大衣", on_sale=False)
        edit_sku(session, sku_id="coat-grey-L", price_fen=79900, specs={"颜色": "灰色", "尺码": "L"})
    with store() as session:
        product = session.get(Product, "coat")
        assert product is not None and product.title == "双面羊毛大衣" and not product.active
        assert [(s.sku_id, s.price_fen, s.stock, s.position) for s in product.skus] == [
            ("coat-grey-M", 89900, 4, 0), ("coat-grey-L", 79900, 2, 1)]
    refusals: list[tuple[Any, str]] = [
        (lambda s: add_product(s, product_id="coat", title="x", category="x", description="", first_sku=first), "id"),
        (lambda s: add_sku(s, product_id="coat", sku=first), "sku_id"),
        (lambda s: add_sku(s, product_id="dress-test", sku=NewSku("dress-x", {}, 0, 1)), "price_yuan"),
        (lambda s: edit_product(s, product_id="coat", title="   "), "title"),
        (lambda s: edit_sku(s, sku_id="coat-grey-M", price_fen=-100), "price_yuan"),
        (lambda s: edit_sku(s, sku_id="coat-grey-M", specs={"颜色": ""}), "specs"),
    ]
    before = catalog_now(store)
    for operation, field in refusals:
        with pytest.raises(InvalidInput) as refused, transaction(store) as session:
            operation(session)
        assert refused.value.field == field
    with pytest.raises(NotFound), transaction(store) as session:
        edit_sku(session, sku_id="no-such-sku", price_fen=100)
    assert catalog_now(store) == before


# ----- import ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [xlsx_file, csv_file], ids=["xlsx", "csv"])
def test_a_file_with_bad_rows_is_reported_row_by_row_and_nothing_is_applied(
    store: sessionmaker[Session], make: Any,
) -> None:
    checkout(store, "o_io_1", {"lipstick-test-999": 4})  # 10 on hand, 4 reserved
    rows = [
        coat(),  # row 2: fine
        coat("coat-grey-L", price_yuan="-5", specs="颜色=灰色;尺码=L"),  # row 3: negative price
        coat("coat-grey-M", specs="颜色=灰色;尺码=L"),  # row 4: the same SKU again
        coat("coat-black-M", sku_on_sale="maybe", specs="颜色=黑色;尺码=M"),  # row 5: a value the column does not know
        {"product_id": "lipstick-test", "title": "测试哑光口红", "category": "彩妆", "sku_id": "lipstick-test-999",
         "specs": "色号=#999", "price_yuan": "320", "stock": 3},  # row 6: below the 4 reserved
        {"product_id": "shirt-test", "title": "测试牛津纺衬衫", "category": "男装", "sku_id": "dress-test-red-M",
         "price_yuan": "199", "stock": 1},  # row 7: a SKU of another product
        coat("coat-grey-XL"),  # row 8: the specs of row 2's SKU, which a customer could not tell apart
    ]
    before = catalog_now(store)
    with store() as session:
        report = check_catalog_table(session, make(rows))
    problems = {(p.row, p.column) for p in report.problems}
    assert problems == {(3, "price_yuan"), (4, "sku_id"), (5, "sku_on_sale"), (6, "stock"), (7, "sku_id"),
                        (8, "specs")}
    by_row = {p.row: p.message for p in report.problems}
    assert "不能为负数" in by_row[3] and "第 2 行已出现" in by_row[4] and "'maybe'" in by_row[5]
    assert "4 件被待付款订单占用" in by_row[6] and "属于商品 dress-test" in by_row[7]
    assert "与第 2 行的 SKU 规格相同" in by_row[8]
    assert not report.ok and report.rows == 7
    # what would change is reported too: the new coat and its SKU
    assert ("new_product", "coat", None) in {(c.what, c.product_id, c.sku_id) for c in report.changes}
    # applying is refused whole
    with pytest.raises(ImportRefused) as refused, transaction(store) as session:
        import_catalog_table(session, make(rows))
    assert refused.value.code == "INVALID_INPUT" and refused.value.details()["problem_count"] == 6
    assert catalog_now(store) == before


@pytest.mark.parametrize("make", [xlsx_file, csv_file], ids=["xlsx", "csv"])
def test_a_good_file_reports_its_changes_and_applies_them(store: sessionmaker[Session], make: Any) -> None:
    checkout(store, "o_io_2", {"lipstick-test-999": 4})  # 10 on hand, 4 reserved, 6 to buy
    rows = [
        coat(), coat("coat-grey-L", specs="颜色=灰色;尺码=L", price_yuan=919.9, stock=3),
        {"product_id": "lipstick-test", "title": "测试哑光口红", "category": "彩妆",
         "description": "丝绒哑光，显色持久。", "sku_id": "lipstick-test-999", "specs": "色号=#999",
         "price_yuan": "299.00", "stock": 12, "sku_on_sale": "是"},
        {"product_id": "shirt-test", "title": "测试牛津纺衬衫", "category": "男装", "product_on_sale": "否",
         "images": "https://img.example/shirt-test/1.jpg|https://img.example/shirt-test/2.jpg",
         "sku_id": "shirt-test-white-L", "specs": "颜色=白色;尺码=L", "price_yuan": "199", "stock": 100},
    ]
    data = make(rows)
    before = catalog_now(store)
    with store() as session:
        report = check_catalog_table(session, data)
    assert report.ok, report.problems
    assert (report.new_products, report.new_skus, report.changed_products, report.changed_skus) == (1, 2, 1, 1)
    changes = {(c.sku_id or c.product_id, c.what): (c.before, c.after) for c in report.changes}
    assert changes[("lipstick-test-999", "price_fen")] == (32000, 29900)
    assert changes[("lipstick-test-999", "stock")] == (10, 12)
    assert changes[("shirt-test", "product_on_sale")] == (True, False)
    assert ("shirt-test-white-L", "stock") not in changes  # the same figure is no change
    assert catalog_now(store) == before  # checking wrote nothing
    with transaction(store) as session:
        applied = import_catalog_table(session, data)
    assert applied.applied
    with store() as session:
        coat_product = session.get(Product, "coat")
        assert coat_product is not None and coat_product.active
        assert [(s.sku_id, s.price_fen, s.stock, s.specs) for s in coat_product.skus] == [
            ("coat-grey-M", 89900, 10, {"颜色": "灰色", "尺码": "M"}),
            ("coat-grey-L", 91990, 3, {"颜色": "灰色", "尺码": "L"})]
        shirt = session.get(Product, "shirt-test")
        assert shirt is not None and not shirt.active
    assert stock_of(store, "lipstick-test-999") == 8  # 12 on hand, 4 still reserved
    # products the file leaves out are left as they were
    assert stock_of(store, "dress-test-red-M") == 5


def test_a_file_with_an_unknown_column_or_without_a_needed_one_is_reported_on_its_header(
    store: sessionmaker[Session],
) -> None:
    with store() as session:
        report = check_catalog_table(session, csv_file([coat()], (*COLUMNS, "colour")))
        assert [(p.row, p.column) for p in report.problems] == [(1, "colour")]
        short = tuple(c for c in COLUMNS if c != "price_yuan")
        report = check_catalog_table(session, xlsx_file([coat()], short))
        assert [(p.row, p.column, p.message) for p in report.problems] == [(1, "price_yuan", "缺少这一列")]
        with pytest.raises(InvalidInput) as refused:
            check_catalog_table(session, b"PK\x03\x04 not really a workbook")
        assert refused.value.field == "file"


def test_a_csv_saved_by_excel_in_gbk_is_read(store: sessionmaker[Session]) -> None:
    with store() as session:
        report = check_catalog_table(session, csv_file([coat()], encoding="gb18030"))
    assert report.ok
    assert [c.after for c in report.changes if c.what == "new_product"] == ["羊毛大衣"]


# ----- export ---------------------------------------------------------------------------------------


def test_export_round_trips_through_xlsx_and_csv_unchanged(store: sessionmaker[Session]) -> None:
    checkout(store, "o_io_3", {"dress-test-red-L": 1})
    with transaction(store) as session:
        edit_sku(session, sku_id="lipstick-test-316", price_fen=1999, on_sale=False)
        edit_product(session, product_id="shirt-test", title="=衬衫 SUM(1)")  # text, never a formula
    with store() as session:
        xlsx, text = export_catalog_xlsx(session), export_catalog_csv(session)
    assert text.startswith("\ufeff".encode())  # Excel needs the BOM to read UTF-8
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(rows) == 5 and tuple(rows[0]) == COLUMNS
    red_l = next(r for r in rows if r["sku_id"] == "dress-test-red-L")
    assert (red_l["price_yuan"], red_l["stock"], red_l["specs"]) == ("259.00", "3", "颜色=红色;尺码=L")  # on hand
    assert next(r for r in rows if r["sku_id"] == "lipstick-test-316")["sku_on_sale"] == "否"
    sheet = load_workbook(io.BytesIO(xlsx)).worksheets[0]
    cells = {row[6]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells["lipstick-test-316"][8] == pytest.approx(19.99)
    assert cells["shirt-test-white-L"][1] == "=衬衫 SUM(1)"
    before = catalog_now(store)
    for data in (xlsx, text):
        with transaction(store) as session:
            report = import_catalog_table(session, data)
        assert report.ok and report.changes == [], report.changes
    assert catalog_now(store) == before
