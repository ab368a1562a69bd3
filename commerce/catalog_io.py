"""The catalog as a spreadsheet (XLSX or CSV), for the back office: export it, and import one in two steps.

One row per SKU, with its product's columns repeated (COLUMNS). Prices are in yuan (exactly two decimals at
most), stock is the units on hand (available + reserved by orders awaiting payment, see
`commerce.catalog_edits`), on-sale columns say 是 or 否.

An import is first checked (`check_catalog_table`): every row is validated and compared with the store,
giving a report of problems (row, column, what is wrong) and of what would change (new products and
SKUs, price and stock changes ...), with nothing written. `import_catalog_table` checks again, in the
transaction that writes, and writes only a file with no problem at all: one bad row and nothing changes.
Products and SKUs the file leaves out are left as they are (a file may hold only the rows to change);
taking something off sale is a 否 in its on-sale column.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.clock import utcnow

from .catalog_edits import (
    StockBelowReserved,
    clean_category,
    clean_description,
    clean_id,
    clean_specs,
    clean_stock,
    clean_title,
    reserved_units,
    set_stock_on_hand,
    yuan_to_fen,
)
from .errors import CommerceError, InvalidInput
from .models import Product, Sku

log = logging.getLogger(__name__)

COLUMNS = ("product_id", "title", "category", "description", "images", "product_on_sale",
           "sku_id", "specs", "price_yuan", "stock", "sku_on_sale")
REQUIRED = ("product_id", "title", "category", "sku_id", "price_yuan", "stock")
PRODUCT_COLUMNS = ("title", "category", "description", "images", "product_on_sale")
MAX_ROWS = 5000  # SKUs in one file; a store with more imports in parts
MAX_CELLS_READ = 40  # columns read per row: a sheet claiming a million columns is not walked
MAX_PROBLEMS_SHOWN = 200
MAX_CHANGES_SHOWN = 1000
MAX_IMAGES = 9
MAX_IMAGE_URL = 500
YES = frozenset({"是", "上架", "在售", "true", "yes", "y", "1"})
NO = frozenset({"否", "下架", "停售", "false", "no", "n", "0"})

Format = Literal["xlsx", "csv"]


@dataclass(frozen=True)
class Problem:
    row: int  # the spreadsheet's row number (1: the header)
    column: str | None  # None: the row as a whole
    message: str


@dataclass(frozen=True)
class Change:
    row: int
    product_id: str
    sku_id: str | None  # None: a product's column
    what: str  # new_product, new_sku, or the column that changes
    before: Any
    after: Any


@dataclass(frozen=True)
class ImportReport:
    format: Format
    rows: int  # data rows read
    problems: list[Problem]
    changes: list[Change]
    new_products: int = 0
    new_skus: int = 0
    changed_products: int = 0
    changed_skus: int = 0
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


class ImportRefused(CommerceError):
    """The file has problems (each with its row and column); nothing was applied."""

    code = "INVALID_INPUT"

    def __init__(self, report: ImportReport) -> None:
        first = report.problems[0]
        super().__init__(f"文件有 {len(report.problems)} 处问题，未导入任何内容；第一处：第 {first.row} 行 "
                         f"{first.column or ''} {first.message}",
                         problems=[vars(p) for p in report.problems[:MAX_PROBLEMS_SHOWN]],
                         problem_count=len(report.problems))
        self.field = "file"
        self.report = report


# ----- reading a file ------------------------------------------------------------------------------


def read_table(data: bytes) -> tuple[Format, list[tuple[int, list[Any]]]]:
    """The file's rows with their numbers; XLSX is recognised by its zip signature, anything else is CSV."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx", _xlsx_rows(data)
    return "csv", _csv_rows(data)


def _xlsx_rows(data: bytes) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError alike for a bad file
        raise InvalidInput(f"不是可读的 XLSX 文件（{exc}）", field="file") from None
    rows: list[tuple[int, list[Any]]] = []
    try:
        # The sheet is parsed as it is walked: a broken one fails here, not at opening.
        for number, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True, max_col=MAX_CELLS_READ),
                                     start=1):
            rows.append((number, list(row)))
            if number > MAX_ROWS + 1:
                break
    except Exception as exc:
        raise InvalidInput(f"不是可读的 XLSX 文件（{exc}）", field="file") from None
    finally:
        workbook.close()
    return rows


def _csv_rows(data: bytes) -> list[tuple[int, list[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")  # what Excel on a Chinese Windows saves a CSV as
        except UnicodeDecodeError:
            raise InvalidInput("CSV 文件须为 UTF-8 或 GBK 编码", field="file") from None
    rows: list[tuple[int, list[Any]]] = []
    try:
        # Rows are counted rather than taken from line_num, so that a cell with a line break inside
        # does not shift the numbers a spreadsheet shows.
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            rows.append((number, row[:MAX_CELLS_READ]))
            if number > MAX_ROWS + 1:
                break
    except csv.Error as exc:
        raise InvalidInput(f"不是可读的 CSV 文件（{exc}）", field="file") from None
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a spreadsheet turns 100 into 100.0
    return str(value).strip()


# ----- parsing rows --------------------------------------------------------------------------------


@dataclass
class RowIn:
    """One data row, its cells checked; a cell left out of the file (no column) is absent from the dicts."""

    row: int
    product_id: str | None
    sku_id: str | None
    product: dict[str, Any] = field(default_factory=dict)
    sku: dict[str, Any] = field(default_factory=dict)


def _parse_rows(rows: list[tuple[int, list[Any]]], problems: list[Problem]) -> list[RowIn]:
    filled = [(number, row) for number, row in rows if any(_cell(cell) for cell in row)]
    if not filled:
        problems.append(Problem(1, None, f"文件是空的：第一行须为列名 {', '.join(COLUMNS)}"))
        return []
    header_number, header_cells = filled[0]
    header = _header(header_number, header_cells, problems)
    if header is None:
        return []
    data = filled[1:]
    if len(data) > MAX_ROWS:
        problems.append(Problem(data[MAX_ROWS][0], None, f"一个文件最多 {MAX_ROWS} 行 SKU，请分批导入"))
        return []
    parsed = []
    for number, cells in data:
        extra = [cell for cell in cells[len(header):] if _cell(cell)]
        if extra:
            problems.append(Problem(number, None, f"比列名多出 {len(extra)} 个单元格"))
        parsed.append(_parse_row(number, dict(zip(header, cells, strict=False)), header, problems))
    return parsed


def _header(number: int, cells: list[Any], problems: list[Problem]) -> list[str] | None:
    names = [_cell(cell).lower() for cell in cells]
    while names and not names[-1]:
        names.pop()
    before = len(problems)
    for name in names:
        if name not in COLUMNS:
            problems.append(Problem(number, name or "(空)", f"未知的列；可用的列：{', '.join(COLUMNS)}"))
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(Problem(number, name, "列名重复"))
    for name in REQUIRED:
        if name not in names:
            problems.append(Problem(number, name, "缺少这一列"))
    return names if len(problems) == before else None


def _parse_row(number: int, cells: dict[str, Any], header: Sequence[str], problems: list[Problem]) -> RowIn:
    def check(column: str, parse: Any) -> Any:
        try:
            return parse(cells.get(column))
        except InvalidInput as exc:
            problems.append(Problem(number, column, exc.message))
            return None

    parsed = RowIn(number, check("product_id", lambda v: clean_id(_cell(v), "product_id")),
                   check("sku_id", lambda v: clean_id(_cell(v), "sku_id")))
    readers = {
        "title": lambda v: clean_title(_cell(v)),
        "category": lambda v: clean_category(_cell(v)),
        "description": lambda v: clean_description(_cell(v)),
        "images": _images,
        "product_on_sale": lambda v: _on_sale(v, "product_on_sale"),
        "specs": _specs,
        "price_yuan": lambda v: yuan_to_fen(v if isinstance(v, int | float) else _cell(v), "price_yuan"),
        "stock": _stock,
        "sku_on_sale": lambda v: _on_sale(v, "sku_on_sale"),
    }
    for column, read in readers.items():
        if column not in header:
            continue
        value = check(column, read)
        if value is not None:
            # The price is kept (and reported) in fen, as everywhere behind the screen.
            key = "price_fen" if column == "price_yuan" else column
            (parsed.product if column in PRODUCT_COLUMNS else parsed.sku)[key] = value
    return parsed


def _images(value: Any) -> list[str]:
    images = [part.strip() for part in _cell(value).split("|") if part.strip()]
    if len(images) > MAX_IMAGES or any(len(url) > MAX_IMAGE_URL for url in images):
        raise InvalidInput(f"images 最多 {MAX_IMAGES} 张，用 | 分隔，每个地址最多 {MAX_IMAGE_URL} 个字符",
                           field="images")
    return images


def _on_sale(value: Any, column: str) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _cell(value).lower()
    if not text:
        return None  # left empty: keep as it is (a new one goes on sale)
    if text in YES:
        return True
    if text in NO:
        return False
    raise InvalidInput(f"未知的值 {text!r}：填 是 或 否", field=column)


def _specs(value: Any) -> dict[str, str]:
    specs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in _cell(value).split(";"))):
        name, sep, spec = part.partition("=")
        if not sep:
            raise InvalidInput(f"规格须写成 名称=值，用 ; 分隔，如 颜色=红色;尺码=M，而不是 {part!r}", field="specs")
        specs[name.strip()] = spec.strip()
    return clean_specs(specs)


def _stock(value: Any) -> int:
    text = _cell(value)
    if not re.fullmatch(r"-?\d+", text):
        raise InvalidInput(f"stock 须为整数件数，而不是 {text!r}", field="stock")
    return clean_stock(int(text))


# ----- comparing with the store ----------------------------------------------------------------------


@dataclass
class Plan:
    """What the file would do: the rows grouped by product, and what is in the store now."""

    kind: Format
    rows: list[RowIn]
    products: dict[str, Product]
    skus: dict[str, Sku]
    reserved: dict[str, int]
    first_row: dict[str, RowIn] = field(default_factory=dict)  # product id → the row its columns come from


def check_catalog_table(session: Session, data: bytes) -> ImportReport:
    """The report of what importing `data` would do; nothing is written."""
    return _plan(session, data)[0]


def _plan(session: Session, data: bytes) -> tuple[ImportReport, Plan]:
    kind, table = read_table(data)
    problems: list[Problem] = []
    rows = _parse_rows(table, problems)
    sku_ids = {row.sku_id for row in rows if row.sku_id}
    product_ids = {row.product_id for row in rows if row.product_id}
    plan = Plan(
        kind, rows,
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(sorted(product_ids))))}
        if product_ids else {},
        {s.sku_id: s for s in session.scalars(select(Sku).where(Sku.sku_id.in_(sorted(sku_ids))))} if sku_ids else {},
        reserved_units(session, sku_ids),
    )
    changes: list[Change] = []
    seen_skus: dict[str, int] = {}
    seen_specs: dict[tuple[str, frozenset[tuple[str, str]]], int] = {}
    for row in rows:
        if row.product_id is None or row.sku_id is None:
            continue
        if row.sku_id in seen_skus:
            problems.append(Problem(row.row, "sku_id", f"SKU 编号 {row.sku_id} 在第 {seen_skus[row.sku_id]} 行已出现"))
            continue
        seen_skus[row.sku_id] = row.row
        problems += _same_specs(row, seen_specs)
        first = plan.first_row.setdefault(row.product_id, row)
        if first is row:
            changes += _product_changes(row, plan.products.get(row.product_id))
        else:
            problems += _product_disagreements(row, first)
        changes += _sku_changes(row, plan, problems)
    report = _report(kind, len(rows), problems, changes)
    return report, plan


def _same_specs(row: RowIn, seen: dict[tuple[str, frozenset[tuple[str, str]]], int]) -> list[Problem]:
    """Two SKUs of one product with the same specs: a customer could not tell which one they choose."""
    specs = row.sku.get("specs")
    if row.product_id is None or not isinstance(specs, dict):
        return []
    key = (row.product_id, frozenset(specs.items()))
    if key in seen:
        return [Problem(row.row, "specs", f"与第 {seen[key]} 行的 SKU 规格相同，顾客无法区分")]
    seen[key] = row.row
    return []


def _product_changes(row: RowIn, product: Product | None) -> list[Change]:
    assert row.product_id is not None
    if product is None:
        return [Change(row.row, row.product_id, None, "new_product", None, row.product.get("title"))]
    now = {"title": product.title, "category": product.category, "description": product.description,
           "images": list(product.images), "product_on_sale": product.active}
    return [Change(row.row, row.product_id, None, column, now[column], value)
            for column, value in row.product.items()
            if value is not None and value != now[column]]


def _product_disagreements(row: RowIn, first: RowIn) -> list[Problem]:
    return [Problem(row.row, column, f"同一商品 {row.product_id} 在第 {first.row} 行写的是 "
                                     f"{first.product.get(column)!r}")
            for column, value in row.product.items()
            if column in first.product and value != first.product[column]]


def _sku_changes(row: RowIn, plan: Plan, problems: list[Problem]) -> list[Change]:
    assert row.product_id is not None and row.sku_id is not None
    sku = plan.skus.get(row.sku_id)
    if sku is None:
        added = {key: row.sku.get(key) for key in ("specs", "price_fen", "stock")}
        return [Change(row.row, row.product_id, row.sku_id, "new_sku", None, added)]
    if sku.product_id != row.product_id:
        problems.append(Problem(row.row, "sku_id", f"SKU {row.sku_id} 属于商品 {sku.product_id}，不能移到 "
                                                   f"{row.product_id} 下"))
        return []
    reserved = plan.reserved.get(sku.sku_id, 0)
    now = {"specs": dict(sku.specs), "price_fen": sku.price_fen, "stock": sku.stock + reserved,
           "sku_on_sale": sku.active}
    stock = row.sku.get("stock")
    if stock is not None and stock < reserved:
        problems.append(Problem(row.row, "stock", f"有 {reserved} 件被待付款订单占用，库存不能低于 {reserved}（填的是 "
                                                  f"{stock}）"))
    return [Change(row.row, row.product_id, row.sku_id, column, now[column], value)
            for column, value in row.sku.items()
            if value is not None and value != now[column]]


def _report(kind: Format, rows: int, problems: list[Problem], changes: list[Change]) -> ImportReport:
    products = {c.product_id for c in changes if c.sku_id is None and c.what != "new_product"}
    skus = {c.sku_id for c in changes if c.sku_id is not None and c.what != "new_sku"}
    return ImportReport(
        format=kind, rows=rows, problems=sorted(problems, key=lambda p: p.row), changes=changes,
        new_products=sum(1 for c in changes if c.what == "new_product"),
        new_skus=sum(1 for c in changes if c.what == "new_sku"),
        changed_products=len(products), changed_skus=len(skus),
    )


# ----- applying ---------------------------------------------------------------------------------------


def import_catalog_table(session: Session, data: bytes, *, now: datetime | None = None) -> ImportReport:
    """Check the file again and apply it, in the caller's transaction; ImportRefused if any row has a problem.

    Stock goes through `set_stock_on_hand`, so a checkout that reserved units since the check refuses the
    row (ImportRefused naming it) and the caller's rollback undoes the rest.
    """
    report, plan = _plan(session, data)
    if not report.ok:
        raise ImportRefused(report)
    at = now or utcnow()
    position = session.scalar(select(func.max(Product.position))) or 0
    for row in plan.rows:
        assert row.product_id is not None and row.sku_id is not None
        product = plan.products.get(row.product_id)
        if product is None:
            position += 1
            product = _new_product(session, row, position, at)
            plan.products[row.product_id] = product
        elif plan.first_row[row.product_id] is row:
            _update_product(product, row, at)
        _write_sku(session, row, plan, product)
    session.flush()
    log.info("catalog table imported: %d rows, %d new products, %d new SKUs", report.rows, report.new_products,
             report.new_skus)
    return replace(report, applied=True)


def _new_product(session: Session, row: RowIn, position: int, at: datetime) -> Product:
    values = row.product
    product = Product(id=row.product_id, title=values["title"], category=values["category"],
                      description=values.get("description", ""), images=values.get("images", []),
                      active=values.get("product_on_sale") is not False, position=position, created_at=at,
                      updated_at=at)
    session.add(product)
    session.flush()
    return product


def _update_product(product: Product, row: RowIn, at: datetime) -> None:
    values = row.product
    product.title, product.category = values["title"], values["category"]
    if "description" in values:
        product.description = values["description"]
    if "images" in values:
        product.images = values["images"]
    if values.get("product_on_sale") is not None:
        product.active = values["product_on_sale"]
    product.updated_at = at


def _write_sku(session: Session, row: RowIn, plan: Plan, product: Product) -> None:
    assert row.sku_id is not None
    values = row.sku
    sku = plan.skus.get(row.sku_id)
    if sku is None:
        last = max((s.position for s in plan.skus.values() if s.product_id == product.id), default=-1)
        sku = Sku(sku_id=row.sku_id, product_id=product.id, specs=values.get("specs", {}),
                  price_fen=values["price_fen"], stock=values["stock"],
                  active=values.get("sku_on_sale") is not False, position=last + 1)
        session.add(sku)
        plan.skus[row.sku_id] = sku
        session.flush()
        return
    if "specs" in values:
        sku.specs = values["specs"]
    sku.price_fen = values["price_fen"]
    if values.get("sku_on_sale") is not None:
        sku.active = values["sku_on_sale"]
    if values["stock"] != sku.stock + plan.reserved.get(sku.sku_id, 0):
        session.flush()
        try:
            set_stock_on_hand(session, sku_id=sku.sku_id, stock=values["stock"])
        except StockBelowReserved as exc:
            problem = Problem(row.row, "stock", f"有 {exc.reserved} 件被待付款订单占用（检查之后有新订单），"
                                                f"库存不能低于 {exc.reserved}")
            refused = ImportReport(format=plan.kind, rows=len(plan.rows), problems=[problem], changes=[])
            raise ImportRefused(refused) from None


# ----- exporting ------------------------------------------------------------------------------------


def catalog_table(session: Session) -> Iterable[list[Any]]:
    """The header, then one row per SKU of every product, on sale or not, in catalog order."""
    yield list(COLUMNS)
    reserved = reserved_units(session)
    products = session.scalars(select(Product).order_by(Product.position, Product.id))
    for product in products:
        for sku in product.skus:
            yield [product.id, product.title, product.category, product.description, "|".join(product.images),
                   _yes_no(product.active), sku.sku_id, ";".join(f"{k}={v}" for k, v in sku.specs.items()),
                   Decimal(sku.price_fen) / 100, sku.stock + reserved.get(sku.sku_id, 0), _yes_no(sku.active)]


def _yes_no(flag: bool) -> str:
    return "是" if flag else "否"


def export_catalog_csv(session: Session) -> bytes:
    """UTF-8 with a byte-order mark: without it Excel reads the Chinese as GBK and garbles it."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in catalog_table(session):
        writer.writerow([f"{cell:.2f}" if isinstance(cell, Decimal) else cell for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def export_catalog_xlsx(session: Session) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "catalog"
    for number, row in enumerate(catalog_table(session), start=1):
        for column, value in enumerate(row, start=1):
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters a spreadsheet cannot hold
            cell = sheet.cell(number, column, value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # a title starting with = is text, not a formula to run
            if isinstance(value, Decimal):
                cell.number_format = "0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
