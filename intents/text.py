"""Chinese text pipeline: normalisation, jieba tokenisation with a user dictionary, synonyms.

Everything that compares customer text with stored text goes through here, so "運費多少？？😊",
"运费 多少" and "邮费多少" end up as the same tokens.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import jieba
from opencc import OpenCC

from foundation.memo import Memo

__all__ = [
    "LEXICON_DIR",
    "Tokeniser",
    "load_neutral_words",
    "load_pleasantries",
    "load_product_words",
    "load_stop_words",
    "load_synonyms",
    "made_only_of",
    "normalise",
]

LEXICON_DIR = Path(__file__).resolve().parent / "lexicon"
DEFAULT_SYNONYMS = LEXICON_DIR / "synonyms.txt"
DEFAULT_STOP_WORDS = LEXICON_DIR / "stopwords.txt"
DEFAULT_NEUTRAL_WORDS = LEXICON_DIR / "neutral.txt"
DEFAULT_PRODUCT_WORDS = LEXICON_DIR / "products.txt"
DEFAULT_PLEASANTRIES = LEXICON_DIR / "pleasantries.txt"

# jieba announces every dictionary load on stderr at DEBUG; the service has its own logging.
logging.getLogger("jieba").setLevel(logging.WARNING)
jieba.setLogLevel(logging.WARNING)

_T2S = OpenCC("t2s")
_USER_WORD_FREQ = 20000
_SPACES = re.compile(r"\s+")
# A message is normalised and cut by the intent classifier and again by the FAQ matcher; the last
# few results are kept so the second time is free.
_RECENT = 256


@lru_cache(maxsize=_RECENT)
def normalise(text: str) -> str:
    """Full-width → half-width, traditional → simplified, lower case; anything that is not a
    letter or digit (punctuation, emoji, symbols) becomes a space; whitespace collapsed.

    Spaces are kept between runs (rather than dropped) so "158 95斤" keeps two numbers apart.
    """
    folded = _T2S.convert(unicodedata.normalize("NFKC", text)).lower()
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" else " " for ch in folded)
    return _SPACES.sub(" ", kept).strip()


def _lexicon_lines(path: Path) -> Iterable[tuple[int, str]]:
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def load_synonyms(path: Path | None = None) -> dict[str, str]:
    """variant → canonical from a lexicon file of `canonical: variant variant ...` lines.

    Words are normalised as messages are, so a lexicon written in traditional characters or
    full-width letters still applies. A variant listed under two canonical words is refused:
    the lexicon would mean different things depending on line order.
    """
    path = path or DEFAULT_SYNONYMS
    synonyms: dict[str, str] = {}
    for number, line in _lexicon_lines(path):
        canonical_part, sep, variants_part = line.partition(":")
        canonical = normalise(canonical_part)
        if not sep or not canonical or " " in canonical:
            raise ValueError(f"{path}:{number}: expected `canonical: variant variant ...`")
        for variant in (normalise(word) for word in variants_part.split()):
            if not variant or variant == canonical:
                continue
            if synonyms.get(variant, canonical) != canonical:
                raise ValueError(f"{path}:{number}: {variant!r} is already a synonym of {synonyms[variant]!r}")
            synonyms[variant] = canonical
    return synonyms


def load_stop_words(path: Path | None = None) -> frozenset[str]:
    """Words that carry how a customer asks, not what about (one a line)."""
    return frozenset(normalise(line) for _, line in _lexicon_lines(path or DEFAULT_STOP_WORDS))


def load_neutral_words(path: Path | None = None) -> frozenset[str]:
    """Words naming days or colours rather than a question's topic (one a line)."""
    return load_stop_words(path or DEFAULT_NEUTRAL_WORDS)


def load_product_words(path: Path | None = None) -> frozenset[str]:
    """Generic product words (连衣裙, 口红) shipped with the lexicon (one a line)."""
    return load_stop_words(path or DEFAULT_PRODUCT_WORDS)


def load_pleasantries(path: Path | None = None) -> frozenset[str]:
    """Words that greet, thank, take leave or acknowledge rather than ask (下午好, 收到, 明白; one a line)."""
    return load_stop_words(path or DEFAULT_PLEASANTRIES)


def made_only_of(normalised: str, words: frozenset[str]) -> bool:
    """True when ``normalised`` (spaces aside) is a run of ``words`` and nothing else.

    Read on the text rather than on jieba's tokens: jieba cuts "好的收到" and "收到咗" its own way,
    and the synonym lexicon folds 收到 into 到货.
    """
    text = normalised.replace(" ", "")
    if not text:
        return False
    longest = _longest(words)
    reachable = [True] + [False] * len(text)
    last_reached = 0
    for end in range(1, len(text) + 1):
        if end - last_reached > longest:
            return False  # no word is long enough to bridge the gap: most messages stop here at once
        reachable[end] = any(
            reachable[start] and text[start:end] in words for start in range(max(0, end - longest), end)
        )
        if reachable[end]:
            last_reached = end
    return reachable[-1]


@lru_cache(maxsize=8)
def _longest(words: frozenset[str]) -> int:
    # Asked once per message with the same few sets; a frozenset keeps its hash, so this is a lookup.
    return max(map(len, words), default=0)


@lru_cache(maxsize=1)
def _default_synonyms() -> Mapping[str, str]:
    return load_synonyms()


# jieba's Tokenizer reads its main dictionary on first use; one lock keeps two threads from
# doing it twice on the same instance (jieba's own lock is per process, not per instance).
_INIT_LOCK = threading.Lock()


_BASE_DICTIONARY: tuple[dict[str, int], int] | None = None


def _private_tokenizer() -> jieba.Tokenizer:
    """A jieba tokenizer of its own (words added to it stay its own), on a copy of jieba's dictionary read
    once per process: reading it (jieba's marshal cache) costs half a second, a copy a few milliseconds."""
    global _BASE_DICTIONARY
    with _INIT_LOCK:
        if _BASE_DICTIONARY is None:
            base = jieba.Tokenizer()
            base.initialize()
            _BASE_DICTIONARY = (base.FREQ, base.total)
    frequencies, total = _BASE_DICTIONARY
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(frequencies), total, True
    return tokenizer


def _tokeniser_key(user_words: Iterable[str], synonyms: Mapping[str, str]) -> str:
    """Equal for two tokenisers that cut every text alike (the same words and synonyms)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\x1f".join(sorted(user_words)).encode())
    digest.update(b"\x1e")
    digest.update("\x1f".join(f"{k}\x1d{v}" for k, v in sorted(synonyms.items())).encode())
    return digest.hexdigest()


_SHARED: Memo[Tokeniser] = Memo(kept=4)


def shared_tokeniser(user_words: Iterable[str] = ()) -> Tokeniser:
    """A tokeniser with the shipped synonyms and these words, shared by everything in the process that asks
    for the same words (adding a catalog's words to a copy of jieba's dictionary takes tens of ms)."""
    words = frozenset(normalise(word) for word in user_words)
    return _SHARED.get(_tokeniser_key(words, _default_synonyms()), lambda: Tokeniser(user_words=words))


class Tokeniser:
    """normalise + jieba cut with a dictionary of its own + synonym canonicalisation.

    ``user_words`` (product names, brand words) and every synonym are added to a private
    ``jieba.Tokenizer`` so they are cut as whole words; the global jieba dictionary is never
    touched, so two tokenisers with different catalogs do not interfere.
    """

    def __init__(self, *, user_words: Iterable[str] = (), synonyms: Mapping[str, str] | None = None) -> None:
        self._synonyms = dict(_default_synonyms() if synonyms is None else synonyms)
        self._jieba = _private_tokenizer()
        words = {*self._synonyms, *self._synonyms.values(), *(normalise(word) for word in user_words)}
        frequencies = self._jieba.FREQ
        self._total = self._jieba.total
        # What jieba's own dictionary says of the words given a frequency of ours below.
        self._dictionary_frequency: dict[str, int] = {}
        for word in sorted(words):
            for part in word.split(" "):
                if len(part) > 1:
                    self._dictionary_frequency.setdefault(part, frequencies.get(part) or 0)
                    # A fixed frequency rather than jieba's suggest_freq (milliseconds a word, so
                    # minutes for a large catalog); it is enough to keep the word whole.
                    self._jieba.add_word(part, freq=max(frequencies.get(part) or 0, _USER_WORD_FREQ))
        self.user_words = frozenset(normalise(word) for word in user_words)
        self.key = _tokeniser_key(self.user_words, self._synonyms)
        self._recent: dict[str, tuple[str, ...]] = {}

    def general_idf(self, word: str) -> float | None:
        """-log of the word's share of general Chinese text (jieba's dictionary counts), or None
        for a word that dictionary does not have (a brand, a product name, 包邮)."""
        frequency = self._dictionary_frequency.get(word)
        if frequency is None:
            frequency = self._jieba.FREQ.get(word) or 0
        return math.log(self._total / frequency) if frequency > 0 else None

    @property
    def total(self) -> int:
        """The sum of jieba's dictionary counts (what `general_idf` divides by)."""
        return self._total

    @property
    def synonyms(self) -> Mapping[str, str]:
        return self._synonyms

    def tokens(self, text: str) -> list[str]:
        """Canonical tokens of ``text`` in order; spaces and symbols dropped."""
        return self.tokens_of_normalised(normalise(text))

    def pieces_of_normalised(self, normalised: str) -> list[str]:
        """jieba's cut of already normalised text as it is: synonyms not folded, spaces kept (they
        part runs the cut must not join)."""
        return list(self._jieba.cut(normalised, HMM=False))

    def tokens_of_normalised(self, normalised: str) -> list[str]:
        """`tokens` for text already passed through `normalise` (saves doing it twice)."""
        recent = self._recent.get(normalised)
        if recent is None:
            synonyms = self._synonyms
            recent = tuple(synonyms.get(word, word) for word in self._jieba.cut(normalised, HMM=False) if word != " ")
            if len(self._recent) >= _RECENT:
                self._recent.clear()  # cheaper than LRU order, and a message is cut again within a turn
            self._recent[normalised] = recent
        return list(recent)
