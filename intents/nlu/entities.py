"""Entity extraction: order numbers, phone numbers, products, size, colour, height and weight.

Patterns run over a folded copy of the message that has exactly one character per original
character (full-width → half-width, upper → lower, traditional → simplified), so every entity's
start/end index the customer's own text, as Rasa's do. Overlaps are settled by priority, then by
length: "20261123104501000123" is one order number, not a phone number inside one.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from opencc import OpenCC

from intents.nlu.numbers import NUMERAL_CHARS, chinese_number, spelled_digits

EXTRACTOR = "chatshop"
ENTITY_TYPES = ("order_no", "phone", "product", "size", "colour", "height", "weight")

# Plausible adult measures; anything outside is a misreading (a price, a year, a quantity).
HEIGHT_RANGE_CM = (100, 230)
WEIGHT_RANGE_KG = (25.0, 200.0)
# "体重110" without a unit: Chinese shoppers mostly weigh in 斤, so a bare figure this large is 斤.
BARE_WEIGHT_JIN_FROM = 100

_T2S = OpenCC("t2s")

Value = str | int | float


@dataclass(frozen=True)
class Entity:
    entity: str
    start: int
    end: int
    value: Value
    text: str

    def as_rasa(self) -> dict[str, Any]:
        return {"entity": self.entity, "start": self.start, "end": self.end, "value": self.value,
                "extractor": EXTRACTOR}


@dataclass(frozen=True)
class _Candidate:
    entity: str
    start: int
    end: int
    value: Value
    priority: int  # lower wins an overlap


def fold(text: str) -> str:
    """Same-length folding: NFKC per character where it stays one character, lower case, t2s."""
    chars = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        chars.append(folded.lower() if len(folded) == 1 else ch)
    joined = "".join(chars)
    simplified = _T2S.convert(joined)
    if len(simplified) == len(joined):
        return simplified
    return "".join(c if len(s := _T2S.convert(c)) != 1 else s for c in joined)


# --------------------------------------------------------------------------- patterns

_ORDER_NO = re.compile(r"(?<![0-9+])[0-9](?:[ \-]?[0-9]){11,23}(?![0-9])")
# "86 138 0013 8000" is a mobile number with its country code, not an order number.
_INTERNATIONAL_MOBILE = re.compile(r"861[3-9][0-9]{9}")
_PHONE = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?(?P<n>1[3-9][0-9](?:[ \-]?[0-9]){8})(?![0-9])")

_CN = f"[{NUMERAL_CHARS}]"
_HEIGHT_CM = re.compile(r"(?<![0-9.])(?P<n>[0-9]{3}(?:\.[0-9])?)\s*(?:cm|厘米|公分)")
_HEIGHT_M = re.compile(r"(?<![0-9.])(?P<m>[12]\.[0-9]{1,2})\s*(?:m|米)(?![0-9a-z])")
_HEIGHT_SPOKEN = re.compile(r"(?P<a>[1一])\s*米\s*(?P<b>[0-9]{1,2}(?![0-9])|[零〇一二三四五六七八九]{1,2})")
_HEIGHT_BARE = re.compile(
    r"身高\s*(?:是|有|大概|差不多)?\s*(?P<n>[0-9]{3}|1\.[0-9]{1,2})(?![0-9.]|\s*(?:cm|厘米|公分|m|米))"
)
_HEIGHT_BEFORE = re.compile(r"(?<![0-9.])(?P<n>[0-9]{3})\s*的?\s*(?:身高|个子|个头)")

_WEIGHT_UNIT = re.compile(r"(?<![0-9.])(?P<n>[0-9]{2,3}(?:\.[0-9])?)\s*(?P<unit>kg|公斤|千克|斤)")
_WEIGHT_SPOKEN = re.compile(rf"(?P<cn>{_CN}{{1,5}})\s*(?P<unit>公斤|千克|斤)")
_WEIGHT_BARE = re.compile(
    r"体重\s*(?:是|有|大概|差不多)?\s*(?P<n>[0-9]{2,3}(?:\.[0-9])?)(?![0-9.]|\s*(?:kg|公斤|千克|斤))"
)

_SIZE_LETTERS = re.compile(r"(?<![a-z0-9.])(?P<s>xxxl|xxl|xl|xs|[2-4]xl|s|m|l)(?![a-z])")
_SIZE_NUMBER = re.compile(r"(?<![0-9])(?P<n>[2-4][0-9])\s*码")
_SIZE_WORDS = {"均码": "均码", "free size": "均码", "one size": "均码"}
_SIZE_ALIASES = {"2xl": "XXL", "3xl": "XXXL", "4xl": "XXXXL"}

# Canonical colour → the ways customers write it (simplified; traditional text is folded first).
COLOURS: dict[str, tuple[str, ...]] = {
    "红色": ("红色", "大红", "正红", "红的"),
    "酒红": ("酒红色", "酒红", "枣红", "勃艮第红"),
    "粉色": ("粉色", "粉红色", "粉红", "粉的", "樱花粉"),
    "黑色": ("黑色", "纯黑", "黑的"),
    "白色": ("白色", "纯白", "白的"),
    "米白": ("米白色", "米白", "奶白色", "奶白"),
    "米色": ("米色",),
    "杏色": ("杏色", "杏仁色", "奶杏"),
    "卡其": ("卡其色", "卡其"),
    "驼色": ("驼色", "焦糖色"),
    "咖啡色": ("咖啡色", "咖色", "棕色"),
    "灰色": ("灰色", "浅灰", "深灰", "烟灰", "灰的"),
    "藏青": ("藏青色", "藏青", "藏蓝", "海军蓝"),
    "蓝色": ("蓝色", "天蓝", "浅蓝", "宝蓝", "雾霾蓝", "蓝的"),
    "绿色": ("绿色", "墨绿", "军绿", "牛油果绿", "薄荷绿", "绿的"),
    "黄色": ("黄色", "姜黄", "鹅黄", "柠檬黄", "黄的"),
    "紫色": ("紫色", "香芋紫", "浅紫", "紫的"),
    "橙色": ("橙色", "橘色", "橘红"),
    "豆沙色": ("豆沙色", "豆沙"),
    "银色": ("银色",),
    "金色": ("金色",),
}


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted({w for w in words if w}, key=len, reverse=True)  # longest first: 酒红色 before 红色
    return re.compile("|".join(re.escape(w) for w in ordered)) if ordered else None


_COLOUR_VALUES = {surface: canonical for canonical, surfaces in COLOURS.items() for surface in surfaces}
_COLOUR = _alternation(_COLOUR_VALUES)


# --------------------------------------------------------------------------- extractors


def _order_numbers(folded: str) -> Iterator[_Candidate]:
    for m in _ORDER_NO.finditer(folded):
        digits = _digits(m.group())
        if not _INTERNATIONAL_MOBILE.fullmatch(digits):
            yield _Candidate("order_no", m.start(), m.end(), digits, 0)


def _phones(folded: str) -> Iterator[_Candidate]:
    for m in _PHONE.finditer(folded):
        yield _Candidate("phone", m.start(), m.end(), _digits(m.group("n")), 1)


def _heights(folded: str) -> Iterator[_Candidate]:
    for m in _HEIGHT_CM.finditer(folded):
        yield from _height(m.start(), m.end(), float(m.group("n")))
    for m in _HEIGHT_M.finditer(folded):
        yield from _height(m.start(), m.end(), float(m.group("m")) * 100)
    for m in _HEIGHT_SPOKEN.finditer(folded):
        rest = m.group("b")
        tail = int(rest) if rest.isdigit() else spelled_digits(rest)
        if tail is not None:
            yield from _height(m.start(), m.end(), 100 + (tail * 10 if len(rest) == 1 else tail))
    for m in (*_HEIGHT_BARE.finditer(folded), *_HEIGHT_BEFORE.finditer(folded)):
        number = float(m.group("n"))
        yield from _height(m.start("n"), m.end("n"), number * 100 if number < 3 else number)


def _height(start: int, end: int, cm: float) -> Iterator[_Candidate]:
    low, high = HEIGHT_RANGE_CM
    if low <= cm <= high:
        yield _Candidate("height", start, end, round(cm), 2)


def _weights(folded: str) -> Iterator[_Candidate]:
    for m in _WEIGHT_UNIT.finditer(folded):
        yield from _weight(m.start(), m.end(), float(m.group("n")), m.group("unit"))
    for m in _WEIGHT_SPOKEN.finditer(folded):
        spoken = chinese_number(m.group("cn"))
        if spoken is not None:
            yield from _weight(m.start(), m.end(), float(spoken), m.group("unit"))
    for m in _WEIGHT_BARE.finditer(folded):
        bare = float(m.group("n"))
        yield from _weight(m.start("n"), m.end("n"), bare, "斤" if bare >= BARE_WEIGHT_JIN_FROM else "kg")


def _weight(start: int, end: int, number: float, unit: str) -> Iterator[_Candidate]:
    kg = number / 2 if unit == "斤" else number
    low, high = WEIGHT_RANGE_KG
    if low <= kg <= high:
        yield _Candidate("weight", start, end, _tidy(kg), 2)


def _sizes(folded: str) -> Iterator[_Candidate]:
    for m in _SIZE_LETTERS.finditer(folded):
        letters = m.group("s")
        yield _Candidate("size", m.start(), m.end(), _SIZE_ALIASES.get(letters, letters.upper()), 4)
    for m in _SIZE_NUMBER.finditer(folded):
        yield _Candidate("size", m.start(), m.end(), m.group("n"), 4)
    for word, value in _SIZE_WORDS.items():
        for found in re.finditer(re.escape(word), folded):
            yield _Candidate("size", found.start(), found.end(), value, 4)


def _colours(folded: str) -> Iterator[_Candidate]:
    if _COLOUR is None:
        return
    for m in _COLOUR.finditer(folded):
        yield _Candidate("colour", m.start(), m.end(), _COLOUR_VALUES[m.group()], 5)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _tidy(number: float) -> int | float:
    rounded = round(number, 1)
    return int(rounded) if rounded == int(rounded) else rounded


# --------------------------------------------------------------------------- products


class ProductGazetteer:
    """Product names from the catalog, matched longest first.

    The names come from a callable (the catalog in the database, or the demo catalog file) and are
    re-read at most every `refresh_s` seconds, so new products are recognised without a restart.
    """

    def __init__(
        self,
        names: Callable[[], Iterable[str]] | Iterable[str],
        *,
        refresh_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if callable(names):
            self._source = names
        else:
            fixed = tuple(names)
            self._source = lambda: fixed
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_refresh = float("-inf")
        self._pattern: re.Pattern[str] | None = None
        self._canonical: dict[str, str] = {}

    def candidates(self, folded: str) -> Iterator[_Candidate]:
        pattern = self._current()
        if pattern is None:
            return
        for m in pattern.finditer(folded):
            yield _Candidate("product", m.start(), m.end(), self._canonical[m.group()], 3)

    def _current(self) -> re.Pattern[str] | None:
        if self._clock() >= self._next_refresh:
            with self._lock:
                if self._clock() >= self._next_refresh:
                    self._load()
        return self._pattern

    def _load(self) -> None:
        names = [name.strip() for name in self._source() if name and name.strip()]
        self._canonical = {fold(name): name for name in names}
        self._pattern = _alternation(self._canonical)
        self._next_refresh = self._clock() + self._refresh_s


# --------------------------------------------------------------------------- the extractor


class EntityExtractor:
    def __init__(self, products: ProductGazetteer | None = None) -> None:
        self._products = products

    def extract(self, text: str) -> list[Entity]:
        folded = fold(text)
        found = [
            *_order_numbers(folded), *_phones(folded), *_heights(folded), *_weights(folded),
            *_sizes(folded), *_colours(folded),
        ]
        if self._products is not None:
            found.extend(self._products.candidates(folded))
        return [Entity(c.entity, c.start, c.end, c.value, text[c.start : c.end]) for c in _without_overlaps(found)]


def _without_overlaps(candidates: list[_Candidate]) -> list[_Candidate]:
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (c.priority, c.start - c.end, c.start)):
        if all(candidate.end <= other.start or candidate.start >= other.end for other in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda c: c.start)
