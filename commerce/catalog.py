"""The catalog: products and SKUs, import and export (YAML or CSV), stock changes by staff.

An import is validated whole before anything is written, and is all-or-nothing: one bad row and
nothing changes. Errors name the row (CSV line, YAML line, or product/SKU position).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from foundation import fast_yaml
from storage.clock import utcnow
from storage.sql import affected_rows

from .errors import InvalidInput, NotFound
from .models import Product, Sku

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_TITLE = 120
MAX_CATEGORY = 40
MAX_SPEC = 40
MAX_PRICE_FEN = 100_000_000  # one million yuan: anything above is a typo
MAX_STOCK = 1_000_000
MAX_ERRORS_SHOWN = 20
CSV_COLUMNS = ("product_id", "title", "category", "description", "images", "sku_id", "specs", "price_fen", "stock")

# Where a product or SKU came from, for error messages: (product index, SKU index or None) -> text.
Locator = Callable[[int, int | None], str]


@dataclass(frozen=True)
class SkuRow:
    sku_id: str
    specs: dict[str, str]
    price_fen: int
    stock: int


@dataclass(frozen=True)
class ProductRow:
    id: str
    title: str
    category: str
    description: str
    images: list[str]
    skus: list[SkuRow]


# ----- reading files -------------------------------------------------------------------------


def load_catalog_file(path: Path) -> list[dict[str, Any]]:
    """Read a catalog file (.yaml/.yml or .csv) and validate it; errors carry line numbers."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    problems: list[str] = []
    if path.suffix.lower() == ".csv":
        data, locate = _parse_csv(text, problems)
    elif path.suffix.lower() in (".yaml", ".yml"):
        data, locate = _parse_yaml(text)
    else:
        raise InvalidInput(f"{path}: catalog files are .yaml, .yml or .csv")
    validate_catalog(data, locate=locate, prior_errors=problems)
    return data


def _parse_yaml(text: str) -> tuple[list[dict[str, Any]], Locator]:
    try:
        loaded, root = fast_yaml.load_with_node(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"not valid YAML: {' '.join(str(exc).split())}") from None
    products = loaded.get("products") if isinstance(loaded, dict) else loaded
    if not isinstance(products, list):
        raise InvalidInput("a YAML catalog is a list of products, or a mapping with `products:`")
    lines = _yaml_lines(root)

    def locate(product: int, sku: int | None) -> str:
        line = lines.get((product, sku)) or lines.get((product, None))
        where = f"product {product + 1}" + (f", SKU {sku + 1}" if sku is not None else "")
        return f"line {line} ({where})" if line else where

    return products, locate


def _yaml_lines(root: yaml.Node | None) -> dict[tuple[int, int | None], int]:
    """Line numbers of each product and SKU mapping, from the YAML node tree."""
    if isinstance(root, yaml.MappingNode):
        root = next((value for key, value in root.value if key.value == "products"), None)
    lines: dict[tuple[int, int | None], int] = {}
    if not isinstance(root, yaml.SequenceNode):
        return lines
    for index, product in enumerate(root.value):
        lines[(index, None)] = product.start_mark.line + 1
        if not isinstance(product, yaml.MappingNode):
            continue
        for key, value in product.value:
            if key.value == "skus" and isinstance(value, yaml.SequenceNode):
                for sku_index, sku in enumerate(value.value):
                    lines[(index, sku_index)] = sku.start_mark.line + 1
    return lines


def _parse_csv(text: str, errors: list[str]) -> tuple[list[dict[str, Any]], Locator]:
    """One row per SKU; a product's fields come from its first row (later rows may leave them empty)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"line 1: CSV header lacks {', '.join(missing)}")
    products: dict[str, dict[str, Any]] = {}
    lines: dict[tuple[int, int | None], int] = {}
    for row in reader:
        line = reader.line_num
        product = _csv_product(products, row, lines, line)
        sku = {"sku_id": row["sku_id"], "specs": _csv_specs(row["specs"], line, errors),
               "price_fen": _csv_int(row["price_fen"]), "stock": _csv_int(row["stock"])}
        lines[(list(products).index(product["id"]), len(product["skus"]))] = line
        product["skus"].append(sku)

    def locate(product: int, sku: int | None) -> str:
        return f"line {lines.get((product, sku)) or lines.get((product, None), '?')}"

    return list(products.values()), locate


def _csv_product(
    products: dict[str, dict[str, Any]], row: dict[str, str], lines: dict[tuple[int, int | None], int], line: int
) -> dict[str, Any]:
    product_id = (row["product_id"] or "").strip()
    if product_id not in products:
        lines[(len(products), None)] = line
        images = [u.strip() for u in (row["images"] or "").split("|") if u.strip()]
        products[product_id] = {"id": product_id, "title": row["title"], "category": row["category"],
                                "description": row["description"] or "", "images": images, "skus": []}
    return products[product_id]


def _csv_specs(text: str, line: int, errors: list[str]) -> dict[str, str]:
    """Specs as `颜色=红;尺码=M`."""
    specs: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        key, sep, value = part.partition("=")
        if not sep:
            errors.append(f"line {line}: specs must be name=value pairs separated by ';', got {part!r}")
            continue
        specs[key.strip()] = value.strip()
    return specs


def _csv_int(text: str | None) -> Any:
    value = (text or "").strip()
    return int(value) if re.fullmatch(r"-?\d+", value) else value


# ----- validation ----------------------------------------------------------------------------


def _default_locator(product: int, sku: int | None) -> str:
    return f"product {product + 1}" + (f", SKU {sku + 1}" if sku is not None else "")


def validate_catalog(
    data: Sequence[Any], *, locate: Locator = _default_locator, prior_errors: Sequence[str] = ()
) -> list[ProductRow]:
    """Check every product and SKU; raise InvalidInput listing every problem, or return typed rows."""
    errors: list[str] = list(prior_errors)
    rows: list[ProductRow] = []
    seen_products: set[str] = set()
    seen_skus: set[str] = set()
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise InvalidInput("a catalog is a list of products")
    for index, raw in enumerate(data):
        row = _validate_product(raw, index, locate, errors)
        if row is None:
            continue
        if row.id in seen_products:
            errors.append(f"{locate(index, None)}: product id {row.id!r} appears twice")
        seen_products.add(row.id)
        for sku_index, sku in enumerate(row.skus):
            if sku.sku_id in seen_skus:
                errors.append(f"{locate(index, sku_index)}: sku_id {sku.sku_id!r} appears twice")
            seen_skus.add(sku.sku_id)
        rows.append(row)
    if errors:
        log.warning("catalog refused: %d problems, first: %s", len(errors), errors[0])
        raise InvalidInput(f"catalog refused, {len(errors)} problem(s); first: {errors[0]}",
                           errors=errors[:MAX_ERRORS_SHOWN])
    return rows


def _validate_product(raw: Any, index: int, locate: Locator, errors: list[str]) -> ProductRow | None:
    where = locate(index, None)
    if not isinstance(raw, dict):
        errors.append(f"{where}: a product is a mapping of id, title, category, description, images, skus")
        return None
    product_id = _text(raw.get("id"), f"{where}: id", errors, pattern=ID_PATTERN)
    title = _text(raw.get("title"), f"{where}: title", errors, limit=MAX_TITLE)
    category = _text(raw.get("category"), f"{where}: category", errors, limit=MAX_CATEGORY)
    description = raw.get("description") or ""
    if not isinstance(description, str):
        errors.append(f"{where}: description must be text")
    images = raw.get("images") or []
    if not isinstance(images, list) or not all(isinstance(u, str) and u.strip() for u in images):
        errors.append(f"{where}: images must be a list of image URLs or /images/ paths")
        images = []
    skus_raw = raw.get("skus")
    if not isinstance(skus_raw, list) or not skus_raw:
        errors.append(f"{where}: skus must be a non-empty list")
        skus_raw = []
    skus = [s for i, r in enumerate(skus_raw) if (s := _validate_sku(r, locate(index, i), errors))]
    if None in (product_id, title, category):
        return None
    return ProductRow(str(product_id), str(title), str(category), str(description), list(images), skus)


def _validate_sku(raw: Any, where: str, errors: list[str]) -> SkuRow | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: a SKU is a mapping of sku_id, specs, price_fen, stock")
        return None
    sku_id = _text(raw.get("sku_id"), f"{where}: sku_id", errors, pattern=ID_PATTERN)
    specs = raw.get("specs") or {}
    if not isinstance(specs, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) and k.strip() and len(str(v)) <= MAX_SPEC
        for k, v in specs.items()
    ):
        errors.append(f"{where}: specs must map names to short values (颜色: 红)")
        specs = {}
    price = _whole(raw.get("price_fen"), f"{where}: price_fen", errors, low=1, high=MAX_PRICE_FEN)
    stock = _whole(raw.get("stock"), f"{where}: stock", errors, low=0, high=MAX_STOCK)
    if sku_id is None or price is None or stock is None:
        return None
    return SkuRow(sku_id, {str(k).strip(): str(v).strip() for k, v in specs.items()}, price, stock)


def _text(value: Any, where: str, errors: list[str], *, limit: int = 64,
          pattern: re.Pattern[str] | None = None) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and pattern is not None:
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where} is required")
        return None
    value = value.strip()
    if pattern is not None and not pattern.match(value):
        errors.append(f"{where} must be 1-64 letters, digits, '_' or '-', got {value!r}")
        return None
    if len(value) > limit:
        errors.append(f"{where} is longer than {limit} characters")
        return None
    return value


def _whole(value: Any, where: str, errors: list[str], *, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{where} must be a whole number, got {value!r}")
        return None
    if not low <= value <= high:
        errors.append(f"{where} must be between {low} and {high}, got {value}")
        return None
    return value


# ----- import / export -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    products: int
    skus: int
    deactivated_products: int


def import_catalog(session: Session, data: Sequence[Any], *, replace: bool = False) -> ImportSummary:
    """Validate then upsert every product and SKU (all or nothing, in the caller's transaction).

    SKUs of an imported product that the file leaves out are deactivated; with `replace`, so are
    products the file leaves out. Nothing is deleted: orders and carts refer to them.
    """
    rows = validate_catalog(data)
    _check_sku_owners(session, rows)
    now = utcnow()
    for position, row in enumerate(rows):
        _upsert_product(session, row, position, now)
    deactivated = 0
    if replace:
        ids = [row.id for row in rows]
        result = session.execute(
            update(Product).where(Product.id.not_in(ids), Product.active.is_(True)).values(active=False, updated_at=now)
        )
        deactivated = affected_rows(result)
    session.flush()
    summary = ImportSummary(len(rows), sum(len(r.skus) for r in rows), deactivated)
    log.info("catalog imported: %s", summary)
    return summary


def _check_sku_owners(session: Session, rows: list[ProductRow]) -> None:
    """A sku_id already belonging to another product is refused: it would silently move."""
    owners = {sku.sku_id: row.id for row in rows for sku in row.skus}
    if not owners:
        return
    existing = session.execute(select(Sku.sku_id, Sku.product_id).where(Sku.sku_id.in_(owners))).all()
    clashes = [f"sku_id {sku_id!r} belongs to product {owner!r}" for sku_id, owner in existing
               if owners[sku_id] != owner]
    if clashes:
        raise InvalidInput(f"catalog refused: {clashes[0]}", errors=clashes[:MAX_ERRORS_SHOWN])


def _upsert_product(session: Session, row: ProductRow, position: int, now: Any) -> None:
    product = session.get(Product, row.id)
    if product is None:
        product = Product(id=row.id, created_at=now)
        session.add(product)
    product.title, product.category, product.description = row.title, row.category, row.description
    product.images, product.active, product.position, product.updated_at = row.images, True, position, now
    existing = {sku.sku_id: sku for sku in product.skus}
    for sku_position, sku_row in enumerate(row.skus):
        sku = existing.pop(sku_row.sku_id, None) or session.get(Sku, sku_row.sku_id)
        if sku is None:
            sku = Sku(sku_id=sku_row.sku_id, product_id=row.id)
            session.add(sku)
        sku.specs, sku.price_fen, sku.stock = sku_row.specs, sku_row.price_fen, sku_row.stock
        sku.active, sku.position = True, sku_position
    for leftover in existing.values():
        leftover.active = False


def export_catalog(session: Session) -> list[dict[str, Any]]:
    """Every active product with its active SKUs, in the import format (a round trip is lossless)."""
    products = session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.position, Product.id))
    return [_product_dict(product) for product in products]


def _product_dict(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "title": product.title,
        "category": product.category,
        "description": product.description,
        "images": list(product.images),
        "skus": [
            {"sku_id": s.sku_id, "specs": dict(s.specs), "price_fen": s.price_fen, "stock": s.stock}
            for s in product.skus
            if s.active
        ],
    }


def dump_catalog_yaml(data: list[dict[str, Any]]) -> str:
    return yaml.safe_dump({"products": data}, allow_unicode=True, sort_keys=False)


def dump_catalog_csv(data: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for product in data:
        for sku in product["skus"]:
            writer.writerow({
                "product_id": product["id"], "title": product["title"], "category": product["category"],
                "description": product["description"], "images": "|".join(product["images"]),
                "sku_id": sku["sku_id"], "specs": ";".join(f"{k}={v}" for k, v in sku["specs"].items()),
                "price_fen": sku["price_fen"], "stock": sku["stock"],
            })
    return out.getvalue()


# ----- reading the catalog -------------------------------------------------------------------


def list_products(
    session: Session, *, category: str | None = None, limit: int = 20, offset: int = 0
) -> list[Product]:
    """Products on sale in catalog order; `category` is a category (女装) or a kind of product its
    titles name (连衣裙: the dresses filed under 女装)."""
    _check_page(limit, offset)
    query = select(Product).where(Product.active.is_(True))
    if category:
        query = query.where(_in_category(category))
    return list(session.scalars(query.order_by(Product.position, Product.id).limit(limit).offset(offset)))


def count_products(session: Session, *, category: str | None = None) -> int:
    query = select(func.count()).select_from(Product).where(Product.active.is_(True))
    if category:
        query = query.where(_in_category(category))
    return int(session.scalar(query) or 0)


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= 100 or offset < 0:
        raise InvalidInput("limit must be 1-100 and offset not negative", field="limit" if offset >= 0 else "offset")


def _in_category(category: str) -> ColumnElement[bool]:
    return or_(Product.category == category, Product.title.ilike(_contains(category), escape="\\"))


def _contains(word: str) -> str:
    """A LIKE pattern matching `word` anywhere, its own % and _ taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class ProductMatches:
    products: list[Product]  # the page asked for, best match first
    total: int  # every product that matched


def search_products(
    session: Session, terms: Sequence[Sequence[str]], *, category: str | None = None, limit: int = 20, offset: int = 0
) -> ProductMatches:
    """Products on sale whose title or category holds the customer's words, best match first.

    `terms` has one group per thing the customer said, each the word and the words that stand for
    it (连衣裙, 裙子): the caller turns a customer's text into them (commerce knows no language).
    A product ranks by how many groups it matches, then by how many of the customer's own words (each
    group's first) its title holds, then by matches in its title (a category match counts less), then
    by catalog order; a product that matches no group is not found. `category` narrows the search as
    it narrows `list_products`.
    """
    _check_page(limit, offset)
    groups = [folded for group in terms if (folded := _folded_group(group))]
    if not groups:
        return ProductMatches([], 0)
    words = {word for group in groups for word in group}
    matching = or_(*(
        or_(Product.title.ilike(pattern, escape="\\"), Product.category.ilike(pattern, escape="\\"))
        for pattern in map(_contains, sorted(words))
    ))
    query = select(Product).where(Product.active.is_(True), matching)
    if category:
        query = query.where(_in_category(category))
    candidates = session.scalars(query)
    ranked = sorted(((_relevance(product, groups), product) for product in candidates), key=_rank)
    found = [product for score, product in ranked if score[0] > 0]
    return ProductMatches(found[offset:offset + limit], len(found))


def _folded_group(group: Sequence[str]) -> tuple[str, ...]:
    # Folded the way ILIKE compares, so Python's ranking agrees with the database's choice.
    return tuple(dict.fromkeys(word.strip().lower() for word in group if word.strip()))


def _relevance(product: Product, groups: list[tuple[str, ...]]) -> tuple[int, int, int]:
    """(groups matched, groups whose own word is in the title, groups matched in the title)."""
    title, category = product.title.lower(), product.category.lower()
    in_title = [group for group in groups if any(word in title for word in group)]
    in_category = [group for group in groups if group not in in_title and any(word in category for word in group)]
    own_word = sum(1 for group in in_title if group[0] in title)
    return len(in_title) + len(in_category), own_word, len(in_title)


def _rank(scored: tuple[tuple[int, int, int], Product]) -> tuple[int, int, int, int, str]:
    (groups, own_word, in_title), product = scored
    return -groups, -own_word, -in_title, product.position, product.id


def catalog_outline(session: Session) -> dict[str, list[str]]:
    """Each category on sale with the titles of its products, in catalog order."""
    rows = session.execute(
        select(Product.category, Product.title).where(Product.active.is_(True)).order_by(Product.position, Product.id)
    )
    outline: dict[str, list[str]] = {}
    for category, title in rows:
        outline.setdefault(category, []).append(title)
    return outline


def list_categories(session: Session) -> list[str]:
    query = select(Product.category).where(Product.active.is_(True)).distinct().order_by(Product.category)
    return list(session.scalars(query))


def get_product(session: Session, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None or not product.active:
        raise NotFound(f"no product {product_id}")
    return product


def get_sku(session: Session, sku_id: str) -> Sku:
    sku = session.get(Sku, sku_id)
    if sku is None or not sku.active or not sku.product.active:
        raise NotFound(f"no SKU {sku_id}")
    return sku


def product_titles(session: Session) -> list[str]:
    """Titles of every product on sale (the NLU's product-name gazetteer)."""
    return list(session.scalars(select(Product.title).where(Product.active.is_(True)).order_by(Product.id)))


def has_catalog(session: Session) -> bool:
    return session.scalar(select(Product.id).limit(1)) is not None


# ----- stock, by staff -----------------------------------------------------------------------


def set_stock(session: Session, *, sku_id: str, stock: int) -> int:
    """Set a SKU's stock to a counted figure (stocktaking)."""
    if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK:
        raise InvalidInput(f"stock must be 0-{MAX_STOCK}", field="stock")
    result = session.execute(update(Sku).where(Sku.sku_id == sku_id).values(stock=stock))
    if affected_rows(result) != 1:
        raise NotFound(f"no SKU {sku_id}")
    log.info("stock of %s set to %d", sku_id, stock)
    return stock


def adjust_stock(session: Session, *, sku_id: str, delta: int) -> int:
    """Add (or, negative, remove) units; never below zero. A conditional UPDATE, no read first."""
    if isinstance(delta, bool) or not isinstance(delta, int) or abs(delta) > MAX_STOCK:
        raise InvalidInput("delta must be a whole number", field="delta")
    result = session.execute(
        update(Sku).where(Sku.sku_id == sku_id, Sku.stock + delta >= 0).values(stock=Sku.stock + delta)
        .returning(Sku.stock)
    )
    row = result.first()
    if row is None:
        if session.get(Sku, sku_id) is None:
            raise NotFound(f"no SKU {sku_id}")
        raise InvalidInput(f"SKU {sku_id} has fewer than {-delta} units", field="delta")
    log.info("stock of %s adjusted by %+d to %d", sku_id, delta, row[0])
    return int(row[0])
