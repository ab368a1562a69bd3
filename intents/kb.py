"""FAQ knowledge base: loading, validation, hot reload and a lightweight matcher.

The matcher is deliberately simple (character n-grams, no word segmentation, no extra
dependencies); it is meant to be swapped for real NLU later, so its interface stays small:
``FaqMatcher(kb, threshold).match(text) -> FaqMatch | None``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from intents.errors import KnowledgeBaseError

__all__ = [
    "DEFAULT_THRESHOLD",
    "Faq",
    "FaqMatch",
    "FaqMatcher",
    "KnowledgeBase",
    "KnowledgeBaseSource",
    "load_knowledge_base",
    "normalise",
]

logger = logging.getLogger(__name__)

# Tuned on the demo KB against held-out rewordings and chit-chat: greetings, thanks and
# small talk top out around 0.35, while correct rewordings mostly score 0.38 and above.
DEFAULT_THRESHOLD = 0.38

# Bigrams carry word-level meaning ("发货", "退款"); single characters are only a back-off
# for typos and one-character differences, so they count for less.
_BIGRAM_BOOST = 1.5
# F-beta with beta > 1 rewards covering a stored phrasing over matching every character of
# the message, so "亲，请问什么时候发货呀" still matches "什么时候发货" while a bare "收到"
# does not match the much longer "多久能收到".
_BETA_SQUARED = 4.0

# How customers ask, not what they ask about: "退款什么时候到账" must follow 退款/到账, not the
# 什么时候 it shares with "什么时候发货". N-grams inside these words count half.
_QUESTION_WORDS = (
    "什么时候", "怎么办", "怎么样", "怎么", "什么", "哪里", "哪儿", "能不能", "可不可以", "可以",
    "是不是", "有没有", "请问", "吗", "呢", "吧", "啊", "呀", "了", "的", "我", "你", "您", "们",
)  # fmt: skip
_QUESTION_WORD_WEIGHT = 0.5


_ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_FAQ_KEYS = frozenset({"id", "question", "similar", "answer", "category", "popular"})


@dataclass(frozen=True)
class Faq:
    id: str
    question: str
    similar: tuple[str, ...]
    answer: str
    category: str = ""
    popular: bool = False

    def phrasings(self) -> tuple[str, ...]:
        """The canonical question followed by its alternative phrasings."""
        return (self.question, *self.similar)


@dataclass(frozen=True)
class KnowledgeBase:
    faqs: tuple[Faq, ...]
    _by_id: dict[str, Faq] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen dataclass: the lookup table is derived once, so bypass the frozen setattr.
        object.__setattr__(self, "_by_id", {faq.id: faq for faq in self.faqs})

    def by_id(self, faq_id: str) -> Faq | None:
        return self._by_id.get(faq_id)

    def popular(self, limit: int) -> list[Faq]:
        """Popular FAQs first, then the rest, each group in file order, at most ``limit``."""
        if limit <= 0:
            return []
        ranked = [faq for faq in self.faqs if faq.popular]
        ranked += [faq for faq in self.faqs if not faq.popular]
        return ranked[:limit]


# --------------------------------------------------------------------------- loading


def load_knowledge_base(path: Path) -> KnowledgeBase:
    """Load and validate a YAML knowledge base; raise KnowledgeBaseError naming what is wrong."""
    entries = _faq_entries(path, _read_yaml(path))
    faqs: list[Faq] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        faq = _parse_faq(path, index, entry)
        if faq.id in first_index:
            raise _entry_error(path, index, faq.id, f"duplicate id, already used by faqs[{first_index[faq.id]}]")
        first_index[faq.id] = index
        faqs.append(faq)
    return KnowledgeBase(tuple(faqs))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: knowledge base file not found") from None
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(f"{path}: file is not valid UTF-8 ({exc})") from exc
    except OSError as exc:
        raise KnowledgeBaseError(f"{path}: cannot read knowledge base file ({exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"{path}: invalid YAML: {exc}") from exc


def _faq_entries(path: Path, document: Any) -> list[Any]:
    if not isinstance(document, Mapping) or "faqs" not in document:
        raise KnowledgeBaseError(f"{path}: missing top-level 'faqs' list")
    entries = document["faqs"]
    if not isinstance(entries, list):
        raise KnowledgeBaseError(f"{path}: 'faqs' must be a list of entries, got {type(entries).__name__}")
    return entries


def _parse_faq(path: Path, index: int, entry: Any) -> Faq:
    if not isinstance(entry, Mapping):
        raise _entry_error(path, index, None, "entry must be a mapping with id/question/answer")
    raw_id = entry.get("id")
    faq_id = raw_id.strip() if isinstance(raw_id, str) else None
    if not faq_id:
        raise _entry_error(path, index, None, "missing or empty 'id'")
    if not _ID_PATTERN.fullmatch(faq_id):
        raise _entry_error(path, index, faq_id, "'id' must be snake_case (a-z, 0-9, _)")
    unknown = sorted(str(key) for key in entry if key not in _FAQ_KEYS)
    if unknown:
        raise _entry_error(path, index, faq_id, f"unknown key(s) {', '.join(unknown)}")

    def fail(problem: str) -> KnowledgeBaseError:
        return _entry_error(path, index, faq_id, problem)

    question = _required_text(entry, "question", fail)
    if not normalise(question):
        raise fail("'question' has no letters or digits to match on")
    return Faq(
        id=faq_id,
        question=question,
        similar=_similar_phrasings(entry, fail),
        answer=_required_text(entry, "answer", fail),
        category=_optional_text(entry, "category", fail),
        popular=_optional_flag(entry, "popular", fail),
    )


_Fail = Callable[[str], KnowledgeBaseError]


def _required_text(entry: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise fail(f"missing or empty '{key}'")
    return value.strip()


def _optional_text(entry: Mapping[str, Any], key: str, fail: _Fail) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise fail(f"'{key}' must be a string")
    return value.strip()


def _optional_flag(entry: Mapping[str, Any], key: str, fail: _Fail) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise fail(f"'{key}' must be true or false")
    return value


def _similar_phrasings(entry: Mapping[str, Any], fail: _Fail) -> tuple[str, ...]:
    value = entry.get("similar", [])
    # A bare number such as 7 would be parsed as int; insisting on strings makes staff quote it
    # instead of having the phrasing silently vanish.
    if not isinstance(value, list) or not all(isinstance(item, str) and normalise(item) for item in value):
        raise fail("'similar' must be a list of non-empty strings")
    return tuple(item.strip() for item in value)


def _entry_error(path: Path, index: int, faq_id: str | None, problem: str) -> KnowledgeBaseError:
    label = f"id {faq_id!r}" if faq_id else "no id"
    return KnowledgeBaseError(f"{path}: faqs[{index}] ({label}): {problem}")


# --------------------------------------------------------------------------- matching


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), lower-case, keep only letters and digits.

    Dropping everything else removes punctuation, whitespace and emoji in one rule, so
    "包邮吗？？😊" and "包邮吗" compare equal.
    """
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


def _ngrams(normalised: str) -> set[str]:
    """Character unigrams and bigrams; a one-character string has only its unigram."""
    grams = set(normalised)
    grams.update(normalised[i : i + 2] for i in range(len(normalised) - 1))
    return grams


def _is_question_word(gram: str) -> bool:
    return any(gram in word for word in _QUESTION_WORDS)


@dataclass(frozen=True)
class FaqMatch:
    faq: Faq
    score: float


class FaqMatcher:
    """Scores a message against every stored phrasing with a weighted n-gram F-score.

    Each n-gram is weighted by how rare it is across FAQs (inverse document frequency), so
    "顺丰" decides more than "吗". The score for one phrasing is the weighted F-beta of the
    shared n-grams; the best phrasing over the whole KB wins if it reaches the threshold.
    """

    def __init__(self, kb: KnowledgeBase, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        self._threshold = threshold
        self._weights, self._unseen_weights = _ngram_weights(kb.faqs)
        # Parallel lists indexed by phrasing number, plus an inverted index so match() only
        # touches phrasings that share at least one n-gram with the message.
        self._phrasing_faq: list[Faq] = []
        self._phrasing_mass: list[float] = []
        self._postings: dict[str, list[int]] = {}
        for faq in kb.faqs:
            for phrasing in faq.phrasings():
                self._add_phrasing(faq, _ngrams(normalise(phrasing)))

    @property
    def threshold(self) -> float:
        return self._threshold

    def match(self, text: str) -> FaqMatch | None:
        """The best-scoring FAQ for ``text`` if it reaches the threshold, else None."""
        best = self._best(text)
        if best is None or best.score < self._threshold:
            return None
        return best

    def _best(self, text: str) -> FaqMatch | None:
        grams = _ngrams(normalise(text))
        if not grams:
            return None
        text_mass = sum(self._weight(gram) for gram in grams)
        best_score, best_phrasing = 0.0, -1
        for phrasing, shared in self._shared_mass(grams).items():
            score = (1 + _BETA_SQUARED) * shared / (_BETA_SQUARED * self._phrasing_mass[phrasing] + text_mass)
            # Ties go to the earlier phrasing so results follow file order deterministically.
            if score > best_score or (score == best_score and phrasing < best_phrasing):
                best_score, best_phrasing = score, phrasing
        if best_phrasing < 0:
            return None
        return FaqMatch(self._phrasing_faq[best_phrasing], min(best_score, 1.0))

    def _weight(self, gram: str) -> float:
        weight = self._weights.get(gram)
        return self._unseen_weights[len(gram) - 1] if weight is None else weight

    def _add_phrasing(self, faq: Faq, grams: set[str]) -> None:
        number = len(self._phrasing_faq)
        self._phrasing_faq.append(faq)
        self._phrasing_mass.append(sum(self._weights[gram] for gram in grams))
        for gram in grams:
            self._postings.setdefault(gram, []).append(number)

    def _shared_mass(self, grams: Iterable[str]) -> dict[int, float]:
        shared: dict[int, float] = {}
        for gram in grams:
            weight = self._weights.get(gram)
            if weight is None:
                continue
            for phrasing in self._postings[gram]:
                shared[phrasing] = shared.get(phrasing, 0.0) + weight
        return shared


def _ngram_weights(faqs: Iterable[Faq]) -> tuple[dict[str, float], tuple[float, float]]:
    """IDF weight per n-gram (documents = FAQs) and the (unigram, bigram) weight for n-grams
    never seen in the KB.

    Unseen n-grams get the highest weight: a message full of words the shop never talks
    about ("天气", "笑话") should look unlike every FAQ, not neutral.
    """
    document_frequency: dict[str, int] = {}
    documents = 0
    for faq in faqs:
        documents += 1
        grams: set[str] = set()
        for phrasing in faq.phrasings():
            grams |= _ngrams(normalise(phrasing))
        for gram in grams:
            document_frequency[gram] = document_frequency.get(gram, 0) + 1

    def idf(gram: str, frequency: int) -> float:
        boost = _BIGRAM_BOOST if len(gram) == 2 else 1.0
        if _is_question_word(gram):
            boost *= _QUESTION_WORD_WEIGHT
        # Smoothed so that an n-gram present in every FAQ still keeps a small positive weight.
        return boost * math.log((documents + 1) / (frequency + 0.5))

    weights = {gram: idf(gram, frequency) for gram, frequency in document_frequency.items()}
    return weights, (idf("x", 0), idf("xx", 0))


# --------------------------------------------------------------------------- hot reload

_CHECK_INTERVAL_SECONDS = 1.0


class KnowledgeBaseSource:
    """Holds the KB loaded from a path and reloads it when the file changes (mtime/size
    checked at most once a second), so staff edits take effect without a restart. A broken
    edit keeps the last good KB and logs the error.

    The constructor raises KnowledgeBaseError if the file cannot be loaded at all: there is
    no last good KB to fall back to. ``clock`` exists so tests can advance time.
    """

    def __init__(
        self,
        path: Path,
        threshold: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._threshold = threshold
        self._clock = clock
        self._lock = threading.Lock()
        # Stat before reading so an edit landing mid-load is still seen as a change later.
        self._signature = _file_signature(path)
        kb = load_knowledge_base(path)
        # KB and matcher are swapped together as one tuple so readers never see a mixed pair.
        self._current = (kb, FaqMatcher(kb, threshold))
        self._next_check = clock() + _CHECK_INTERVAL_SECONDS

    def knowledge_base(self) -> KnowledgeBase:
        self._reload_if_changed()
        return self._current[0]

    def matcher(self) -> FaqMatcher:
        self._reload_if_changed()
        return self._current[1]

    def _reload_if_changed(self) -> None:
        if self._clock() < self._next_check:
            return
        with self._lock:
            now = self._clock()
            if now < self._next_check:  # another thread checked while we waited
                return
            self._next_check = now + _CHECK_INTERVAL_SECONDS
            signature = _file_signature(self._path)
            if signature == self._signature:
                return
            # Remember the new signature even if loading fails, so a broken file is logged
            # once rather than every second until someone fixes it.
            self._signature = signature
            self._reload(signature)

    def _reload(self, signature: tuple[int, int] | None) -> None:
        if signature is None:
            logger.error("knowledge base %s disappeared; keeping the last good one", self._path)
            return
        try:
            kb = load_knowledge_base(self._path)
        except KnowledgeBaseError as exc:
            logger.error("knowledge base not reloaded, keeping the last good one: %s", exc)
            return
        self._current = (kb, FaqMatcher(kb, self._threshold))
        logger.info("reloaded knowledge base %s (%d FAQs)", self._path, len(kb.faqs))


def _file_signature(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of the file, or None if it cannot be stat'ed."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
