"""The catalog for the back office (商品, admins), under /staff/api/catalog: products and SKUs listed, read,
added and changed; stock set to the units on hand (never below what orders awaiting payment hold); the
catalog exported as XLSX or CSV, and a file imported in two steps: checked into a row-by-row report with
nothing applied, then sent again with `apply=true`, applied only if no row has a problem.

Handlers parse, call one `commerce.catalog_edits` / `commerce.catalog_io` operation and serialize. Money
goes out in fen and comes in as yuan text ("259.90"), converted exactly.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from commerce.catalog import MAX_CATEGORY, MAX_TITLE
from commerce.catalog_edits import (
    MAX_DESCRIPTION,
    NewSku,
    add_product,
    add_sku,
    edit_product,
    edit_sku,
    find_product,
    reserved_units,
    set_stock_on_hand,
    yuan_to_fen,
)
from commerce.catalog_io import (
    MAX_CHANGES_SHOWN,
    MAX_PROBLEMS_SHOWN,
    Change,
    ImportReport,
    Problem,
    check_catalog_table,
    export_catalog_csv,
    export_catalog_xlsx,
    import_catalog_table,
)
from commerce.errors import NotFound
from commerce.models import Product, Sku
from staff.backoffice import BackOfficeBackend, BackOfficeUnavailable
from staff.roles import Principal, Role, RoleCheck
from storage.clock import utcnow
from storage.db import transaction
from web.json_api import bounded_route, read_bounded
from web.schemas import StrictBody

IMPORT_MAX_BYTES = 2 * 1024 * 1024  # a catalog of thousands of SKUs is well under this
MAX_LIST = 100
MAX_OFFSET = 1_000_000
ID_TEXT = r"^[A-Za-z0-9_\-]{1,64}$"
YUAN_TEXT = r"^\d{1,7}(\.\d{1,2})?$"
PRODUCT_ID = Path(pattern=ID_TEXT, description="the product's id")
SKU_ID = Path(pattern=ID_TEXT, description="the SKU's id")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": f"the file's bytes as they are (XLSX or CSV, at most {IMPORT_MAX_BYTES} bytes)",
        "content": {XLSX: {"schema": {"type": "string", "format": "binary"}},
                    "text/csv": {"schema": {"type": "string", "format": "binary"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}





# ----- bodies -----------------------------------------------------------------------------------------


YUAN_HELP = "yuan with at most two decimals, e.g. \"259.90\""
SPECS_HELP = "spec name → value, e.g. {\"颜色\": \"红色\", \"尺码\": \"M\"}"


class SkuIn(StrictBody):
    sku_id: str = Field(pattern=ID_TEXT)
    specs: dict[str, str] = Field(default_factory=dict, max_length=10, description=SPECS_HELP)
    price_yuan: str = Field(pattern=YUAN_TEXT, description=YUAN_HELP)
    stock: int = Field(ge=0, le=1_000_000, description="units on hand")
    on_sale: bool = True


class ProductIn(StrictBody):
    id: str = Field(pattern=ID_TEXT)
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    category: str = Field(min_length=1, max_length=MAX_CATEGORY)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    on_sale: bool = True
    sku: SkuIn = Field(description="its first SKU")


class ProductPatch(StrictBody):
    """Members left out keep their value."""

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    category: str | None = Field(None, min_length=1, max_length=MAX_CATEGORY)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    on_sale: bool | None = None


class SkuPatch(StrictBody):
    """Members left out keep their value."""

    price_yuan: str | None = Field(None, pattern=YUAN_TEXT, description=YUAN_HELP)
    specs: dict[str, str] | None = Field(None, max_length=10, description=SPECS_HELP)
    on_sale: bool | None = None


class StockIn(StrictBody):
    stock: int = Field(ge=0, le=1_000_000, description="units on hand: available + reserved; not below reserved")


# ----- answers ----------------------------------------------------------------------------------------


class SkuOut(BaseModel):
    sku_id: str
    specs: dict[str, str]
    price_fen: int
    stock: int = Field(description="units on hand (available + reserved)")
    reserved: int = Field(description="units in orders awaiting payment")
    available: int = Field(description="what customers can still buy")
    on_sale: bool


class ProductOut(BaseModel):
    id: str
    title: str
    category: str
    description: str
    images: list[str]
    on_sale: bool
    skus: list[SkuOut]


class ProductRowOut(BaseModel):
    id: str
    title: str
    category: str
    on_sale: bool
    image: str | None
    skus: int
    skus_on_sale: int
    price_min_fen: int | None
    price_max_fen: int | None
    stock: int = Field(description="units on hand of every SKU")
    reserved: int
    available: int


class ProductPage(BaseModel):
    products: list[ProductRowOut]
    total: int
    categories: list[str] = Field(description="every category, on sale or not")


class ProblemOut(BaseModel):
    row: int = Field(description="the spreadsheet's row number; 1 is the header")
    column: str | None
    message: str


class ChangeOut(BaseModel):
    row: int
    product_id: str
    sku_id: str | None
    what: str = Field(description="new_product (after: its title), new_sku (after: specs, price_fen, stock), or "
                                  "the column that changes (price_fen in fen)")
    before: Any
    after: Any


class ImportReportOut(BaseModel):
    format: Literal["xlsx", "csv"]
    ok: bool = Field(description="no problem: the file can be applied")
    applied: bool
    rows: int
    problems: list[ProblemOut]
    problem_count: int
    changes: list[ChangeOut]
    change_count: int
    new_products: int
    new_skus: int
    changed_products: int
    changed_skus: int


# ----- routes -----------------------------------------------------------------------------------------


def add_catalog_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    """Adds this page's routes to the staff router."""
    _add_product_routes(router, api, auth)
    _add_sku_routes(router, api, auth)
    _add_file_routes(router, api, auth)


def _checked(api: BackOfficeBackend) -> sessionmaker[Session]:
    if api.backoffice is None:
        raise BackOfficeUnavailable("the back office is not set up on this service")
    return api.factory


def _add_product_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    admins = auth.requiring(Role.ADMIN)

    @router.get("/catalog/products", response_model=ProductPage,
                summary="Products, on sale or not, with their SKUs' prices and stock (admins)")
    def products(q: str | None = Query(None, max_length=60, description="words of the title or id"),
                 category: str | None = Query(None, max_length=MAX_CATEGORY),
                 on_sale: bool | None = Query(None, description="omit: both"),
                 limit: int = Query(50, ge=1, le=MAX_LIST), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                 principal: Principal = admins) -> ProductPage:
        with _checked(api)() as session:
            return _product_page(session, q, category, on_sale, limit, offset)

    @router.post("/catalog/products", response_model=ProductOut, status_code=201,
                 summary="Add a product with its first SKU",
                 description="422 INVALID_INPUT names the field: an id already used, a bad price ...")
    def create(body: ProductIn, principal: Principal = admins) -> ProductOut:
        with transaction(_checked(api)) as session:
            add_product(session, product_id=body.id, title=body.title, category=body.category,
                        description=body.description, on_sale=body.on_sale, first_sku=_new_sku(body.sku),
                        now=utcnow())
        return _read(api.factory, body.id)

    @router.get("/catalog/products/{product_id}", response_model=ProductOut, summary="One product with its SKUs")
    def one(product_id: str = PRODUCT_ID, principal: Principal = admins) -> ProductOut:
        _checked(api)
        return _read(api.factory, product_id)

    @router.patch("/catalog/products/{product_id}", response_model=ProductOut,
                  summary="Change a product's title, category, description or sale")
    def change(body: ProductPatch, product_id: str = PRODUCT_ID, principal: Principal = admins) -> ProductOut:
        with transaction(_checked(api)) as session:
            edit_product(session, product_id=product_id, title=body.title, category=body.category,
                         description=body.description, on_sale=body.on_sale, now=utcnow())
        return _read(api.factory, product_id)


def _add_sku_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    admins = auth.requiring(Role.ADMIN)

    @router.post("/catalog/products/{product_id}/skus", response_model=SkuOut, status_code=201,
                 summary="Add a SKU to a product")
    def create_sku(body: SkuIn, product_id: str = PRODUCT_ID, principal: Principal = admins) -> SkuOut:
        with transaction(_checked(api)) as session:
            add_sku(session, product_id=product_id, sku=_new_sku(body))
        return _read_sku(api.factory, body.sku_id)

    @router.patch("/catalog/skus/{sku_id}", response_model=SkuOut,
                  summary="Change a SKU's price (yuan), specs or sale")
    def change_sku(body: SkuPatch, sku_id: str = SKU_ID, principal: Principal = admins) -> SkuOut:
        price = yuan_to_fen(body.price_yuan) if body.price_yuan is not None else None
        with transaction(_checked(api)) as session:
            edit_sku(session, sku_id=sku_id, price_fen=price, specs=body.specs, on_sale=body.on_sale)
        return _read_sku(api.factory, sku_id)

    @router.put("/catalog/skus/{sku_id}/stock", response_model=SkuOut,
                summary="Set a SKU's units on hand (refused below the units orders awaiting payment hold)",
                description="The figure is on hand = available + reserved; what customers can buy becomes "
                            "stock − reserved. 422 INVALID_INPUT (`field` stock, `reserved`) below reserved.")
    def put_stock(body: StockIn, sku_id: str = SKU_ID, principal: Principal = admins) -> SkuOut:
        with transaction(_checked(api)) as session:
            set_stock_on_hand(session, sku_id=sku_id, stock=body.stock)
        return _read_sku(api.factory, sku_id)


def _add_file_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    admins = auth.requiring(Role.ADMIN)

    @router.get("/catalog/export", summary="The whole catalog as a spreadsheet (one row per SKU)",
                response_class=Response,
                responses={200: {"description": "the file, as an attachment",
                                 "content": {XLSX: {}, "text/csv": {}}}})
    def export(kind: Literal["xlsx", "csv"] = Query("xlsx", alias="format"),
               principal: Principal = admins) -> Response:
        with _checked(api)() as session:
            data = export_catalog_xlsx(session) if kind == "xlsx" else export_catalog_csv(session)
        name = f"catalog-{utcnow():%Y%m%d}.{kind}"
        media = XLSX if kind == "xlsx" else "text/csv; charset=utf-8"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def import_file(request: Request,
                          apply: bool = Query(False, description="false: only check and report; true: apply, "
                                                                 "if no row has a problem"),
                          principal: Principal = admins) -> ImportReportOut:
        factory = _checked(api)
        data = await read_bounded(request, IMPORT_MAX_BYTES)
        # Parsing and writing block: off the event loop, like FastAPI runs a plain `def` route.
        return await run_in_threadpool(_apply_or_check, factory, data, apply)

    # The file is far bigger than the staff router's 16 KB body limit: this route has its own.
    router.add_api_route(
        "/catalog/import", import_file, methods=["POST"], response_model=ImportReportOut,
        route_class_override=bounded_route(IMPORT_MAX_BYTES), openapi_extra=IMPORT_BODY,
        summary="Import a catalog file (XLSX or CSV): a row-by-row report, applied only with apply=true and "
                "no problem",
        description=f"413 BODY_TOO_LARGE over {IMPORT_MAX_BYTES} bytes; 422 INVALID_INPUT (`field` file) for an "
                    "unreadable file, or with apply=true when a row has a problem (`problems`: row, column, "
                    "message), and nothing applied.",
    )


def _apply_or_check(factory: sessionmaker[Session], data: bytes, apply: bool) -> ImportReportOut:
    if not apply:
        with factory() as session:
            return _report_out(check_catalog_table(session, data))
    with transaction(factory) as session:
        return _report_out(import_catalog_table(session, data, now=utcnow()))


# ----- reading and serializing ------------------------------------------------------------------------


def _new_sku(body: SkuIn) -> NewSku:
    return NewSku(sku_id=body.sku_id, specs=body.specs, price_fen=yuan_to_fen(body.price_yuan, "sku.price_yuan"),
                  stock=body.stock, on_sale=body.on_sale)


def _product_page(session: Session, q: str | None, category: str | None, on_sale: bool | None, limit: int,
                  offset: int) -> ProductPage:
    query = select(Product)
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Product.title.ilike(pattern, escape="\\"), Product.id.ilike(pattern, escape="\\")))
    if category:
        query = query.where(Product.category == category)
    if on_sale is not None:
        query = query.where(Product.active.is_(on_sale))
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    found = list(session.scalars(query.order_by(Product.position, Product.id).limit(limit).offset(offset)))
    reserved = reserved_units(session, [sku.sku_id for product in found for sku in product.skus])
    categories = list(session.scalars(select(Product.category).distinct().order_by(Product.category)))
    return ProductPage(products=[_row_out(p, reserved) for p in found], total=total, categories=categories)


def _row_out(product: Product, reserved: dict[str, int]) -> ProductRowOut:
    prices = [sku.price_fen for sku in product.skus if sku.active] or [sku.price_fen for sku in product.skus]
    held = sum(reserved.get(sku.sku_id, 0) for sku in product.skus)
    available = sum(sku.stock for sku in product.skus)
    return ProductRowOut(
        id=product.id, title=product.title, category=product.category, on_sale=product.active,
        image=product.images[0] if product.images else None, skus=len(product.skus),
        skus_on_sale=sum(1 for sku in product.skus if sku.active), price_min_fen=min(prices, default=None),
        price_max_fen=max(prices, default=None), stock=available + held, reserved=held, available=available,
    )


def _read(factory: sessionmaker[Session], product_id: str) -> ProductOut:
    """The product as it is after the change committed (a session of its own)."""
    with factory() as session:
        product = find_product(session, product_id)
        reserved = reserved_units(session, [sku.sku_id for sku in product.skus])
        return ProductOut(id=product.id, title=product.title, category=product.category,
                          description=product.description, images=list(product.images), on_sale=product.active,
                          skus=[_sku_out(sku, reserved.get(sku.sku_id, 0)) for sku in product.skus])


def _read_sku(factory: sessionmaker[Session], sku_id: str) -> SkuOut:
    with factory() as session:
        sku = session.get(Sku, sku_id)
        if sku is None:
            raise NotFound(f"没有 SKU {sku_id}", sku_id=sku_id)
        return _sku_out(sku, reserved_units(session, [sku_id]).get(sku_id, 0))


def _sku_out(sku: Sku, reserved: int) -> SkuOut:
    return SkuOut(sku_id=sku.sku_id, specs=dict(sku.specs), price_fen=sku.price_fen, stock=sku.stock + reserved,
                  reserved=reserved, available=sku.stock, on_sale=sku.active)


def _report_out(report: ImportReport) -> ImportReportOut:
    return ImportReportOut(
        format=report.format, ok=report.ok, applied=report.applied, rows=report.rows,
        problems=[_problem_out(p) for p in report.problems[:MAX_PROBLEMS_SHOWN]], problem_count=len(report.problems),
        changes=[_change_out(c) for c in report.changes[:MAX_CHANGES_SHOWN]], change_count=len(report.changes),
        new_products=report.new_products, new_skus=report.new_skus, changed_products=report.changed_products,
        changed_skus=report.changed_skus,
    )


def _problem_out(problem: Problem) -> ProblemOut:
    return ProblemOut(row=problem.row, column=problem.column, message=problem.message)


def _change_out(change: Change) -> ChangeOut:
    return ChangeOut(row=change.row, product_id=change.product_id, sku_id=change.sku_id, what=change.what,
                     before=change.before, after=change.after)
