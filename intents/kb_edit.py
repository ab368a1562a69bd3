"""Edits of one FAQ in the KB file (the back office's): add, change, add a phrasing, remove.

An edit reads the file, checks that it is the version the editor saw (its `version`: a digest of the
bytes; a stale one is refused with StaleKnowledgeBase, so of two admins editing at once the second is
told instead of silently undoing the first), changes one entry, validates the whole KB with the parser
the bot uses (a broken edit is refused with the parser's message and the file left as it was) and
replaces the file atomically. The running bot then reloads it as it does any edit of the file.

Only the edited entry's text is rewritten: the rest of the file — comments, section headers, flow lists —
is kept byte for byte, since the KB file is edited by hand as much as here. The new entry is the YAML
`faq_to_mapping` gives (a comment inside the edited entry itself does not survive).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intents.errors import KnowledgeBaseError
from intents.kb import (
    Faq,
    ImageCheck,
    KnowledgeBase,
    RawEntry,
    dump_yaml,
    faq_to_mapping,
    parse_faq,
    parse_faqs,
    yaml_entries,
)
from intents.kb_io import write_atomically
from intents.kb_source import Signature, file_signature
from intents.text import normalise

__all__ = [
    "BrokenKnowledgeBase",
    "FaqNotFound",
    "InvalidEdit",
    "KbFile",
    "SavedKb",
    "StaleKnowledgeBase",
    "add_faq",
    "add_phrasing",
    "change_faq",
    "kb_with_faq",
    "read_kb_file",
    "remove_faq",
    "unsaved_faq",
]

log = logging.getLogger(__name__)

# One editor at a time per file in this process; the file lock covers other processes (several workers).
_LOCK = threading.Lock()
_UNSAVED = "(unsaved)"


class StaleKnowledgeBase(KnowledgeBaseError):
    """The file changed since the editor read it (another admin's edit, an import, a hand edit)."""

    code = "kb_changed"

    def __init__(self, message: str, *, version: str) -> None:
        super().__init__(message, version=version)
        self.version = version


class BrokenKnowledgeBase(KnowledgeBaseError):
    """The file as it is cannot be used (a broken hand edit): nothing can be edited until it is fixed."""

    code = "kb_broken"


class InvalidEdit(KnowledgeBaseError):
    """The edit breaks a rule of the KB file; `field` names the entry's member at fault when one is."""

    code = "kb_invalid_edit"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class FaqNotFound(KnowledgeBaseError):
    """No FAQ of that id in the file."""

    code = "faq_not_found"


@dataclass(frozen=True)
class KbFile:
    """The KB file as read: its text, its version and the KB it holds (validated)."""

    path: Path
    text: str
    version: str
    kb: KnowledgeBase

    def faq(self, faq_id: str) -> Faq:
        return self.kb.faqs[self.index(faq_id)]

    def index(self, faq_id: str) -> int:
        found = next((number for number, faq in enumerate(self.kb.faqs) if faq.id == faq_id), None)
        if found is None:
            raise FaqNotFound(f"no FAQ with id {faq_id!r} in {self.path}")
        return found


@dataclass(frozen=True)
class SavedKb:
    file: KbFile  # the file as written
    signature: Signature | None  # (inode, mtime, size) written: the running KB has taken it once it loaded this


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read_kb_file(path: Path, *, check_image: ImageCheck | None = None) -> KbFile:
    """The file with its version; BrokenKnowledgeBase (the parser's message) when it cannot be used."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BrokenKnowledgeBase(f"{path}: knowledge base file not found") from None
    except OSError as exc:
        raise BrokenKnowledgeBase(f"{path}: cannot read knowledge base file ({exc})") from exc
    try:
        text = data.decode("utf-8")
        kb = _parsed(str(path), text, check_image)
    except UnicodeDecodeError as exc:
        raise BrokenKnowledgeBase(f"{path}: file is not valid UTF-8 ({exc})") from exc
    except KnowledgeBaseError as exc:
        raise BrokenKnowledgeBase(str(exc)) from exc
    return KbFile(path, text, version_of(data), kb)


def unsaved_faq(entry: Mapping[str, Any], *, check_image: ImageCheck | None = None, source: str = _UNSAVED,
                index: int = 0) -> Faq:
    """One entry validated as the parser validates a file's (for trying it before it is saved).

    The rest of a valid file is valid, so an edit is valid when this entry is (and its id is its own)."""
    try:
        return parse_faq(source, index, RawEntry("edit", dict(entry)), check_image=check_image)
    except KnowledgeBaseError as exc:
        raise InvalidEdit(str(exc), field=_field_of(str(exc))) from exc


def kb_with_faq(kb: KnowledgeBase, faq: Faq) -> KnowledgeBase:
    """`kb` with `faq` in place of the entry of its id, or added at the end."""
    if any(existing.id == faq.id for existing in kb.faqs):
        return KnowledgeBase(tuple(faq if existing.id == faq.id else existing for existing in kb.faqs))
    return KnowledgeBase((*kb.faqs, faq))


# --------------------------------------------------------------------------- operations


def add_faq(path: Path, *, entry: Mapping[str, Any], version: str, check_image: ImageCheck | None = None) -> SavedKb:
    """A new FAQ at the end of the file; its id must not be in use."""
    with _editing(path, version, check_image) as current:
        faq = unsaved_faq(entry, check_image=check_image, source=str(path), index=len(current.kb.faqs))
        if any(existing.id == faq.id for existing in current.kb.faqs):
            raise InvalidEdit(f"id {faq.id!r} is in use already; choose another id", field="id")
        return _write(current, faq, None, check_image)


def change_faq(path: Path, *, faq_id: str, entry: Mapping[str, Any], version: str,
               check_image: ImageCheck | None = None) -> SavedKb:
    """The FAQ `faq_id` replaced by `entry` (an id is kept for good: a tap on an old menu names it)."""
    with _editing(path, version, check_image) as current:
        faq = unsaved_faq({**entry, "id": faq_id}, check_image=check_image, source=str(path),
                          index=current.index(faq_id))
        return _write(current, faq, faq_id, check_image)


def add_phrasing(path: Path, *, faq_id: str, text: str, version: str | None = None,
                 check_image: ImageCheck | None = None) -> SavedKb:
    """`text` added to the FAQ's similar phrasings (an unanswered question it should have answered).

    Without `version` any version is taken: adding a phrasing cannot undo another edit of the file.
    """
    with _editing(path, version, check_image) as current:
        faq = current.faq(faq_id)
        wording = text.strip()
        if normalise(wording) in {normalise(phrasing) for phrasing in faq.phrasings()}:
            raise InvalidEdit(f"{wording!r} is a phrasing of {faq_id!r} already", field="text")
        changed = {**faq_to_mapping(faq), "similar": [*faq.similar, wording]}
        edited = unsaved_faq(changed, check_image=check_image, source=str(path), index=current.index(faq_id))
        return _write(current, edited, faq_id, check_image)


def remove_faq(path: Path, *, faq_id: str, version: str) -> SavedKb:
    """The FAQ taken out of the file (to keep it but never answer with it, disable it instead)."""
    with _editing(path, version, None) as current:
        current.faq(faq_id)
        text = _without_entry(current.text, faq_id)
        expected = tuple(faq for faq in current.kb.faqs if faq.id != faq_id)
        return _replace_file(current, text, expected, None)


# --------------------------------------------------------------------------- reading, checking, writing


@contextmanager
def _editing(path: Path, version: str | None, check_image: ImageCheck | None) -> Iterator[KbFile]:
    """The current file, under the edit lock, refused when it is not `version` (None: any)."""
    with _LOCK, _file_lock(path):
        current = read_kb_file(path, check_image=check_image)
        if version is not None and version != current.version:
            raise StaleKnowledgeBase(
                f"{path} changed since it was read (another edit was saved); reload and edit again",
                version=current.version)
        yield current


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write(current: KbFile, faq: Faq, replacing: str | None, check_image: ImageCheck | None) -> SavedKb:
    mapping = faq_to_mapping(faq)
    if replacing is None:
        text = _with_entry_added(current.text, mapping)
    else:
        text = _with_entry_replaced(current.text, replacing, mapping)
    expected = kb_with_faq(current.kb, faq).faqs
    return _replace_file(current, text, expected, check_image)


def _replace_file(current: KbFile, text: str, expected: tuple[Faq, ...], check_image: ImageCheck | None) -> SavedKb:
    """Validate `text` as the bot will, check it holds `expected` (the edited entry was validated on its
    own already, with the parser's message), and write it atomically."""
    try:
        kb: KnowledgeBase | None = _parsed(str(current.path), text, check_image)
    except KnowledgeBaseError:
        kb = None  # the entries were each valid, so it is the splice that went wrong
    if kb is None or kb.faqs != expected:
        # The splice met a layout it does not know (a flow-style list of FAQs, say): write the KB whole.
        log.warning("%s: the edit could not keep the file's layout; it is written in the standard layout",
                    current.path)
        text = dump_yaml(KnowledgeBase(expected))
        kb = _parsed(str(current.path), text, check_image)  # a broken KB stops here: the file is untouched
    data = text.encode("utf-8")
    write_atomically(current.path, data)
    return SavedKb(KbFile(current.path, text, version_of(data), kb), file_signature(current.path))


def _parsed(source: str, text: str, check_image: ImageCheck | None) -> KnowledgeBase:
    return parse_faqs(source, yaml_entries(source, text), check_image=check_image)


_PROBLEM = re.compile(r"\((?:id '[^']*'|no id)\): (card: )?[^']*'(\w+)'")
_MEMBERS = frozenset({"id", "question", "similar", "answer", "category", "enabled", "popular", "card"})


def _field_of(message: str) -> str | None:
    """The member a parser's message is about ("...(id 'x'): missing or empty 'answer'" → answer)."""
    found = _PROBLEM.search(message)
    if found is None:
        return "card" if "): card:" in message else None
    if found.group(1):
        return f"card.{found.group(2)}"
    return found.group(2) if found.group(2) in _MEMBERS else None


# --------------------------------------------------------------------------- the file's text


def _items(text: str) -> tuple[yaml.SequenceNode, list[yaml.Node]]:
    """The `faqs` sequence node and its entries (pure-Python loader: its marks index characters)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "faqs" and isinstance(value, yaml.SequenceNode):
                return value, list(value.value)
    raise KnowledgeBaseError("missing top-level 'faqs' list")


def _entry_id(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == "id" and isinstance(value, yaml.ScalarNode):
                return str(value.value).strip()
    return None


def _content_end(text: str, node: yaml.Node) -> int:
    """Where the node's own text ends: a block collection's end mark lies past the comments and blank
    lines that follow it, so the end of its last value is taken instead."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(text, last[1] if isinstance(last, tuple) else last)
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def _rendered(mapping: Mapping[str, Any], column: int) -> str:
    """The entry's YAML for a list item whose text starts at `column` (lists of scalars in flow style,
    as the KB file writes `similar`)."""
    dumped = yaml.safe_dump(dict(mapping), allow_unicode=True, sort_keys=False, width=1_000_000,
                            default_flow_style=None)
    lines = dumped.rstrip("\n").split("\n")
    return "\n".join([lines[0], *(" " * column + line if line else line for line in lines[1:])])


def _entry(text: str, faq_id: str) -> yaml.Node:
    _, items = _items(text)
    found = next((item for item in items if _entry_id(item) == faq_id), None)
    if found is None:
        raise FaqNotFound(f"no FAQ with id {faq_id!r}")
    return found


def _with_entry_replaced(text: str, faq_id: str, mapping: Mapping[str, Any]) -> str:
    node = _entry(text, faq_id)
    start = node.start_mark.index
    if isinstance(node, yaml.MappingNode) and node.flow_style:
        return text  # left to the whole-file write, which _replace_file falls back to
    return text[:start] + _rendered(mapping, node.start_mark.column) + text[_content_end(text, node):]


_ITEM_PREFIX = re.compile(r"[ \t]*-[ \t]+")


def _with_entry_added(text: str, mapping: Mapping[str, Any]) -> str:
    sequence, items = _items(text)
    if sequence.flow_style or not items:
        # `faqs: []`: the list becomes a block list of the one entry
        start, end = sequence.start_mark.index, sequence.end_mark.index
        return text[:start].rstrip(" ") + "\n  - " + _rendered(mapping, 4) + text[end:]
    last = items[-1]
    line_start = text.rfind("\n", 0, last.start_mark.index) + 1
    prefix = text[line_start:last.start_mark.index]
    if not _ITEM_PREFIX.fullmatch(prefix):
        prefix = " " * max(last.start_mark.column - 2, 0) + "- "
    end = _content_end(text, last)
    # Entries separated by blank lines (as the demo's are) get one before the new entry too.
    spaced = len(items) > 1 and "\n\n" in text[_content_end(text, items[-2]):last.start_mark.index]
    gap = "\n\n" if spaced else "\n"
    return text[:end] + gap + prefix + _rendered(mapping, len(prefix)) + text[end:]


def _without_entry(text: str, faq_id: str) -> str:
    node = _entry(text, faq_id)
    start = text.rfind("\n", 0, node.start_mark.index) + 1
    if not _ITEM_PREFIX.fullmatch(text[start:node.start_mark.index]):
        return text  # an unusual layout: left to the whole-file write
    end = text.find("\n", _content_end(text, node))
    end = len(text) if end < 0 else end + 1
    # Keep one blank line between the neighbours, not two.
    while text[start - 2:start] == "\n\n" and text[end:end + 1] == "\n":
        end += 1
    return text[:start] + text[end:]

