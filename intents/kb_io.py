"""Knowledge base import and export: YAML, CSV and XLSX.

CSV and XLSX hold one FAQ a row under a header row with these columns (any order; only `id`
and `question` are required; extra columns are refused so a typo is not silently dropped):

    id | question | similar | answer | card_title | card_pagepath | card_image | card_appid |
    category | enabled | popular | card_thumb_media_id

(`card_thumb_media_id` is read from older files, where a card named a media id instead of an image.)

`similar` joins the phrasings with " | "; `enabled` and `popular` take true/false (also
yes/no, 1/0, 是/否; empty means the default). Rows are numbered as a spreadsheet shows them
(the header is row 1), YAML entries by the line they start on.

An import validates every entry before anything is written and then replaces the target file
atomically (temporary file + os.replace): the running service sees the old KB or the new
one, never half of either, and reloads it on its own.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from intents.errors import KnowledgeBaseError
from intents.kb import (
    PHRASING_SEPARATOR,
    Faq,
    ImageCheck,
    KnowledgeBase,
    RawEntry,
    dump_yaml,
    parse_faqs,
    read_text,
    yaml_entries,
)

__all__ = ["COLUMNS", "FORMATS", "export_knowledge_base", "import_knowledge_base", "read_knowledge_base"]

COLUMNS = (
    "id", "question", "similar", "answer", "card_title", "card_pagepath", "card_image", "card_appid",
    "category", "enabled", "popular", "card_thumb_media_id",
)  # fmt: skip
_REQUIRED_COLUMNS = ("id", "question")
_CARD_COLUMNS = {"card_title": "title", "card_pagepath": "pagepath", "card_image": "image",
                 "card_thumb_media_id": "thumb_media_id", "card_appid": "appid"}  # fmt: skip
_TRUE = frozenset({"true", "yes", "y", "1", "是", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "f"})
FORMATS = (".yaml", ".yml", ".csv", ".xlsx")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise KnowledgeBaseError(f"{path}: unknown format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    return suffix


def read_knowledge_base(path: Path, *, check_image: ImageCheck | None = None) -> KnowledgeBase:
    """Read and validate a KB file of any supported format (raises KnowledgeBaseError); with
    `check_image`, a card whose image cannot be used is refused too."""
    suffix = _format(path)
    if suffix in (".yaml", ".yml"):
        entries = yaml_entries(str(path), read_text(path))
    elif suffix == ".csv":
        entries = _table_entries(str(path), _csv_rows(path))
    else:
        entries = _table_entries(str(path), _xlsx_rows(path))
    return parse_faqs(str(path), entries, check_image=check_image)


def import_knowledge_base(source: Path, target: Path, *, check_image: ImageCheck | None = None) -> KnowledgeBase:
    """Validate ``source`` completely (card images with ``check_image``), then atomically replace
    ``target`` (YAML) with it.

    A YAML source is copied as its text (as read and validated) rather than re-dumped, so its
    comments and layout survive — a KB file is edited by hand as much as it is imported.
    """
    kb = read_knowledge_base(source, check_image=check_image)
    text = read_text(source) if _format(source) in (".yaml", ".yml") else dump_yaml(kb)
    write_atomically(target, text.encode("utf-8"))
    return kb


def export_knowledge_base(kb: KnowledgeBase, target: Path) -> None:
    """Write every FAQ (disabled ones too) in the format named by ``target``'s suffix."""
    suffix = _format(target)
    if suffix in (".yaml", ".yml"):
        data = dump_yaml(kb).encode("utf-8")
    elif suffix == ".csv":
        # utf-8-sig: Excel opens a CSV with a BOM as UTF-8 instead of the system code page.
        data = _csv_text(kb).encode("utf-8-sig")
    else:
        data = _xlsx_bytes(kb)
    write_atomically(target, data)


def write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o777)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- reading tables


def _csv_text_of(path: Path) -> str:
    """The CSV's text: UTF-8 (with or without Excel's BOM), else GB18030, which is what Excel on a
    Chinese Windows saves "CSV" as; GB18030 decodes almost any bytes, so UTF-8 is tried first."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: file not found") from None
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read ({exc})") from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise KnowledgeBaseError(f"{path}: not UTF-8 or GB18030 text; save the CSV as UTF-8")


def _csv_rows(path: Path) -> list[tuple[int, list[Any]]]:
    text = _csv_text_of(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        # line_num after a row is the physical line it ended on; rows are counted instead so a
        # cell with a line break inside does not shift the numbers staff see in a spreadsheet.
        return [(number, list(row)) for number, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise KnowledgeBaseError(f"{path}: invalid CSV: {exc}") from exc


def _xlsx_rows(path: Path) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: file not found") from None
    except Exception as exc:  # openpyxl raises zipfile/KeyError/ValueError alike for a bad file
        raise KnowledgeBaseError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = workbook.worksheets[0]
        return [(number, list(row)) for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        workbook.close()


def _table_entries(source: str, rows: list[tuple[int, list[Any]]]) -> list[RawEntry]:
    rows = [(number, row) for number, row in rows if any(_cell_text(cell) for cell in row)]
    if not rows:
        raise KnowledgeBaseError(f"{source}: no header row (expected columns {', '.join(COLUMNS)})")
    header_number, header_cells = rows[0]
    header = _header(source, header_number, header_cells)
    entries = []
    for number, row in rows[1:]:
        extra = [cell for cell in row[len(header) :] if _cell_text(cell)]
        if extra:
            raise KnowledgeBaseError(f"{source}: row {number}: more cells than header columns")
        cells = dict(zip(header, row, strict=False))
        entries.append(RawEntry(f"row {number}", _row_mapping(cells)))
    return entries


def _header(source: str, number: int, cells: list[Any]) -> list[str]:
    names = [_cell_text(cell).lower() for cell in cells]
    while names and not names[-1]:
        names.pop()
    unknown = [name or "(empty)" for name in names if name not in COLUMNS]
    missing = [name for name in _REQUIRED_COLUMNS if name not in names]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    problems = [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
    problems += [f"missing column(s) {', '.join(missing)}"] if missing else []
    problems += [f"repeated column(s) {', '.join(duplicated)}"] if duplicated else []
    if problems:
        raise KnowledgeBaseError(f"{source}: row {number} (header): {'; '.join(problems)}")
    return names


def _cell_text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # a spreadsheet turns 99 into 99.0
    return str(cell).strip()


def _row_mapping(cells: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the mapping `parse_faq` validates: empty cells left out, flags parsed."""
    entry: dict[str, Any] = {}
    for column in ("id", "question", "answer", "category"):
        text = _cell_text(cells.get(column))
        if text:
            entry[column] = text
    similar = _cell_text(cells.get("similar"))
    if similar:
        entry["similar"] = [part.strip() for part in similar.split(PHRASING_SEPARATOR)]
    card = {key: _cell_text(cells.get(column)) for column, key in _CARD_COLUMNS.items()}
    if any(card.values()):
        entry["card"] = {key: value for key, value in card.items() if value}
    for column in ("enabled", "popular"):
        flag = _flag(cells.get(column))
        if flag is not None:
            entry[column] = flag
    return entry


def _flag(cell: Any) -> Any:
    """True/False for a recognised flag, None when empty; anything else is passed on as it is
    so validation names the cell ("'enabled' must be true or false")."""
    if isinstance(cell, bool) or cell is None:
        return cell
    text = _cell_text(cell).lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return text


# --------------------------------------------------------------------------- writing tables


def _row(faq: Faq) -> list[Any]:
    card = faq.card
    return [
        faq.id, faq.question, f" {PHRASING_SEPARATOR} ".join(faq.similar), faq.answer,
        card.title if card else "", card.pagepath if card else "", card.image if card else "",
        card.appid if card else "", faq.category, faq.enabled, faq.popular, card.thumb_media_id if card else "",
    ]  # fmt: skip


def _rows(kb: KnowledgeBase) -> Iterable[list[Any]]:
    yield list(COLUMNS)
    for faq in kb.faqs:
        yield _row(faq)


def _csv_text(kb: KnowledgeBase) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in _rows(kb):
        writer.writerow(["true" if cell is True else "false" if cell is False else cell for cell in row])
    return buffer.getvalue()


def _xlsx_bytes(kb: KnowledgeBase) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "faqs"
    for row in _rows(kb):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
