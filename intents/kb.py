"""FAQ knowledge base: entries, validation, the YAML file, match results and hot reload.

The file format (YAML, `faqs:` list) is what `kb.path` holds; CSV and XLSX are import/export
formats handled by ``intents.kb_io``, which validates through the same `parse_faq`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from foundation import fast_yaml
from intents.errors import KnowledgeBaseError
from intents.text import normalise

__all__ = [
    "DEFAULT_ANSWER_THRESHOLD",
    "DEFAULT_SUGGEST_THRESHOLD",
    "PHRASING_SEPARATOR",
    "Candidate",
    "Card",
    "Faq",
    "ImageCheck",
    "KnowledgeBase",
    "MatchResult",
    "Outcome",
    "RawEntry",
    "load_knowledge_base",
    "parse_faq",
    "parse_faqs",
]

logger = logging.getLogger(__name__)

# Chosen on the development set (tests/fixtures/nlu/kb_dev.yaml), see README "Knowledge base".
DEFAULT_ANSWER_THRESHOLD = 0.42
DEFAULT_SUGGEST_THRESHOLD = 0.3

# Similar phrasings share one CSV/XLSX cell joined by this; a phrasing may therefore not hold it.
PHRASING_SEPARATOR = "|"

_ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_FAQ_KEYS = frozenset({"id", "question", "similar", "answer", "card", "category", "enabled", "popular"})
_CARD_KEYS = frozenset({"title", "pagepath", "image", "thumb_media_id", "appid"})
_MAX_TEXT = 2000  # WeChat's customer-service text limit is 2048 bytes; longer answers fail to send


@dataclass(frozen=True)
class Card:
    """A mini-program page card answer (WeChat's `miniprogrampage`); appid "" means the store's own.

    `image` names the card's picture (an http(s) URL or a path the service serves, /images/...): the
    bot uploads it to each WeChat account as the card's thumbnail. `thumb_media_id` is what older
    files gave instead, a media id uploaded by hand, sent as it is.
    """

    title: str
    pagepath: str
    thumb_media_id: str = ""
    appid: str = ""
    image: str = ""


@dataclass(frozen=True)
class Faq:
    id: str
    question: str
    similar: tuple[str, ...]
    answer: str  # may be "" when the answer is a card
    card: Card | None = None
    category: str = ""
    enabled: bool = True  # a disabled FAQ is kept in the file but never matched nor offered
    popular: bool = False

    def phrasings(self) -> tuple[str, ...]:
        """The canonical question followed by its alternative phrasings."""
        return (self.question, *self.similar)


@dataclass(frozen=True)
class KnowledgeBase:
    faqs: tuple[Faq, ...]  # every entry, enabled or not, in file order
    _by_id: dict[str, Faq] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: the lookup table is derived once, so bypass the frozen setattr.
        object.__setattr__(self, "_by_id", {faq.id: faq for faq in self.faqs})

    @property
    def enabled(self) -> tuple[Faq, ...]:
        return tuple(faq for faq in self.faqs if faq.enabled)

    def by_id(self, faq_id: str) -> Faq | None:
        """The enabled FAQ with this id (a tap on an old menu item of a disabled FAQ gets None)."""
        faq = self._by_id.get(faq_id)
        return faq if faq is not None and faq.enabled else None

    def popular(self, limit: int) -> list[Faq]:
        """Enabled FAQs, popular ones first, each group in file order, at most ``limit``."""
        if limit <= 0:
            return []
        enabled = self.enabled
        return ([faq for faq in enabled if faq.popular] + [faq for faq in enabled if not faq.popular])[:limit]


# --------------------------------------------------------------------------- match results


class Outcome(StrEnum):
    ANSWER = "answer"  # confident: send the best FAQ's answer
    SUGGEST = "suggest"  # unsure: offer the candidates as a "猜你想问" menu
    FALLBACK = "fallback"  # nothing close enough: ask to rephrase, then offer a human


@dataclass(frozen=True)
class Candidate:
    faq: Faq
    score: float  # 0..1


@dataclass(frozen=True)
class MatchResult:
    """What the matcher made of a message. ``candidates`` are distinct FAQs, best first, at most
    3; with SUGGEST every candidate reached the suggest threshold, with FALLBACK they are only
    the nearest misses (for logs and evaluation, not to be shown)."""

    outcome: Outcome
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def answer(self) -> Faq | None:
        """The FAQ to answer with, only when the outcome is ANSWER."""
        return self.candidates[0].faq if self.outcome is Outcome.ANSWER else None


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class RawEntry:
    """One entry as read from a file, before validation, with where it came from."""

    where: str  # "line 12" (YAML) or "row 5" (CSV/XLSX)
    value: Any


_Fail = Callable[[str], KnowledgeBaseError]
# Why a card's image cannot be used (no such file, too large ...), or None: given by the caller, which
# knows where images live; without one, images are not checked.
ImageCheck = Callable[[str], str | None]


def parse_faqs(source: str, entries: Sequence[RawEntry], *, check_image: ImageCheck | None = None) -> KnowledgeBase:
    """Validate every entry (ids unique, card images usable when `check_image` is given) and build
    the KB; the first problem raises KnowledgeBaseError naming the file, the line or row, the entry
    and what is wrong."""
    faqs: list[Faq] = []
    first_seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        faq = parse_faq(source, index, entry, check_image=check_image)
        if faq.id in first_seen:
            problem = f"duplicate id, already used at {first_seen[faq.id]}"
            raise _entry_error(source, index, entry.where, faq.id, problem)
        first_seen[faq.id] = entry.where
        faqs.append(faq)
    return KnowledgeBase(tuple(faqs))


def parse_faq(source: str, index: int, entry: RawEntry, *, check_image: ImageCheck | None = None) -> Faq:
    raw = entry.value
    if not isinstance(raw, Mapping):
        raise _entry_error(source, index, entry.where, None, "entry must be a mapping with id/question/answer")
    raw_id = raw.get("id")
    faq_id = raw_id.strip() if isinstance(raw_id, str) else None
    if not faq_id:
        raise _entry_error(source, index, entry.where, None, "missing or empty 'id'")

    def fail(problem: str) -> KnowledgeBaseError:
        return _entry_error(source, index, entry.where, faq_id, problem)

    if not _ID_PATTERN.fullmatch(faq_id):
        raise fail("'id' must be snake_case (a-z, 0-9, _)")
    unknown = sorted(str(key) for key in raw if key not in _FAQ_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}")
    question = _required_text(raw, "question", fail)
    if not normalise(question):
        raise fail("'question' has no letters or digits to match on")
    if PHRASING_SEPARATOR in question:
        raise fail(f"'question' may not contain {PHRASING_SEPARATOR!r}")
    card = _card(raw.get("card"), fail, check_image)
    answer = _optional_text(raw, "answer", fail)
    if not answer and card is None:
        raise fail("missing or empty 'answer' (give an answer text or a card)")
    if len(answer) > _MAX_TEXT:
        raise fail(f"'answer' is longer than {_MAX_TEXT} characters")
    return Faq(
        id=faq_id,
        question=question,
        similar=_similar_phrasings(raw, fail),
        answer=answer,
        card=card,
        category=_optional_text(raw, "category", fail),
        enabled=_optional_flag(raw, "enabled", True, fail),
        popular=_optional_flag(raw, "popular", False, fail),
    )


def _required_text(entry: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail(f"missing or empty '{key}'")
    return value.strip()


def _optional_text(entry: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise fail(f"'{key}' must be a string")
    return value.strip()


def _optional_flag(entry: Mapping[str, Any], key: str, default: bool, fail: _Fail) -> bool:
    value = entry.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise fail(f"'{key}' must be true or false")
    return value


def _similar_phrasings(entry: Mapping[str, Any], fail: _Fail) -> tuple[str, ...]:
    value = entry.get("similar")
    if value is None:
        return ()
    # A bare number such as 7 would be parsed as int; insisting on strings makes staff quote it
    # instead of having the phrasing silently vanish.
    if not isinstance(value, list) or not all(isinstance(item, str) and normalise(item) for item in value):
        raise fail("'similar' must be a list of non-empty strings")
    if any(PHRASING_SEPARATOR in item for item in value):
        raise fail(f"a phrasing in 'similar' may not contain {PHRASING_SEPARATOR!r}")
    return tuple(item.strip() for item in value)


def _card(value: Any, fail: _Fail, check_image: ImageCheck | None) -> Card | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise fail("'card' must be a mapping of title, pagepath, image (and appid)")
    unknown = sorted(str(key) for key in value if key not in _CARD_KEYS)
    if unknown:
        raise fail(f"unknown card key(s) {', '.join(unknown)}")
    parts = {key: _optional_text(value, key, lambda problem: fail(f"card: {problem}")) for key in _CARD_KEYS}
    missing = [key for key in ("title", "pagepath") if not parts[key]]
    if missing:
        raise fail(f"card: missing or empty {', '.join(repr(key) for key in missing)}")
    if not parts["image"] and not parts["thumb_media_id"]:
        raise fail("card: missing or empty 'image' (the card's picture: an http(s) URL or an /images/ path)")
    problem = check_image(parts["image"]) if check_image and parts["image"] else None
    if problem:
        raise fail(f"card: image {parts['image']} cannot be used: {problem}")
    return Card(**parts)


def _entry_error(source: str, index: int, where: str, faq_id: str | None, problem: str) -> KnowledgeBaseError:
    label = f"id {faq_id!r}" if faq_id else "no id"
    return KnowledgeBaseError(f"{source}: {where}: faqs[{index}] ({label}): {problem}")


# --------------------------------------------------------------------------- the YAML file


def load_knowledge_base(path: Path, *, check_image: ImageCheck | None = None) -> KnowledgeBase:
    """Load and validate a YAML knowledge base; raise KnowledgeBaseError naming what is wrong."""
    return parse_faqs(str(path), yaml_entries(str(path), read_text(path)), check_image=check_image)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: knowledge base file not found") from None
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(f"{path}: file is not valid UTF-8 ({exc})") from exc
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read knowledge base file ({exc})") from exc


def yaml_entries(source: str, text: str) -> list[RawEntry]:
    """The `faqs:` entries with the line each starts on (from the YAML node tree)."""
    try:
        document, root = fast_yaml.load_with_node(text)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{source}: invalid YAML: {exc}") from exc
    if not isinstance(document, Mapping) or "faqs" not in document:
        raise KnowledgeBaseError(f"{source}: missing top-level 'faqs' list")
    entries = document["faqs"]
    if not isinstance(entries, list):
        raise KnowledgeBaseError(f"{source}: 'faqs' must be a list of entries, got {type(entries).__name__}")
    lines = _entry_lines(root, len(entries))
    return [RawEntry(f"line {line}", entry) for line, entry in zip(lines, entries, strict=True)]


def _entry_lines(root: Any, count: int) -> list[int]:
    assert isinstance(root, yaml.MappingNode)  # safe_load gave a mapping, so the node is one
    for key, value in root.value:
        if key.value == "faqs" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return [0] * count


def dump_yaml(kb: KnowledgeBase) -> str:
    """The YAML form of a KB, in the shape `load_knowledge_base` reads (defaults left out)."""
    return yaml.safe_dump(
        {"faqs": [faq_to_mapping(faq) for faq in kb.faqs]}, allow_unicode=True, sort_keys=False, width=1000
    )


def faq_to_mapping(faq: Faq) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": faq.id, "question": faq.question}
    if faq.similar:
        entry["similar"] = list(faq.similar)
    if faq.answer:
        entry["answer"] = faq.answer
    if faq.card:
        card = {"title": faq.card.title, "pagepath": faq.card.pagepath, "image": faq.card.image,
                "thumb_media_id": faq.card.thumb_media_id, "appid": faq.card.appid}
        entry["card"] = {key: value for key, value in card.items() if value}
    if faq.category:
        entry["category"] = faq.category
    if not faq.enabled:
        entry["enabled"] = False
    if faq.popular:
        entry["popular"] = True
    return entry
