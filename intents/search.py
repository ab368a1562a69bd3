"""A customer's words as catalog search terms: the one place that knows how people name products.

The commerce core searches by words and knows no language; the mini-program's `GET /mp/products?q=`
and the bot's product search both come through here first, so "有冇裙子" finds in either what
"有没有连衣裙" does. A message becomes one group of words per thing it names: the word as the
synonym lexicon folds it, the words that fold into it, and the words the search lexicon widens it
to (`intents/lexicon/search.txt`). Words that only say someone is looking (有没有, 推荐, 想买), stop
words, greetings, days and colours are left out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from intents.text import (
    LEXICON_DIR,
    Tokeniser,
    load_neutral_words,
    load_pleasantries,
    load_product_words,
    load_stop_words,
    load_synonyms,
    normalise,
)

__all__ = ["SearchTerms", "load_widenings"]

DEFAULT_WIDENINGS = LEXICON_DIR / "search.txt"
DEFAULT_FILLERS = LEXICON_DIR / "search_fillers.txt"
# Sizes say which SKU, not which product (S, XL, 2XL, 36码): the bot reads them as entities.
_SIZE = re.compile(r"(x{0,3}[sml]|\d?xl|\d+码?|均码)")

Terms = list[tuple[str, ...]]


def load_widenings(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """word → the words a search for it also looks for, from `word: also ...` lines."""
    widenings: dict[str, tuple[str, ...]] = {}
    for number, raw in enumerate((path or DEFAULT_WIDENINGS).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, sep, rest = line.partition(":")
        if not sep or not normalise(word) or not rest.split():
            raise ValueError(f"{path or DEFAULT_WIDENINGS}:{number}: expected `word: also ...`, got {line!r}")
        widenings[normalise(word)] = tuple(normalise(also) for also in rest.split())
    return widenings


class SearchTerms:
    """Turns a customer's text into search term groups (see the module's docstring).

    The tokeniser, which knows the product words, is built on first use (half a second), so a process
    that never searches never pays for it; `extra_words` (catalog titles, say) join its dictionary.
    """

    def __init__(
        self,
        *,
        synonyms: Mapping[str, str] | None = None,
        widenings: Mapping[str, tuple[str, ...]] | None = None,
        extra_words: Iterable[str] = (),
    ) -> None:
        self._synonyms = dict(load_synonyms() if synonyms is None else synonyms)
        self._widenings = dict(load_widenings() if widenings is None else widenings)
        self._variants = _variants_of(self._synonyms)
        self._left_out = (load_stop_words() | load_pleasantries() | load_neutral_words()
                          | load_stop_words(DEFAULT_FILLERS))
        self._vocabulary = frozenset({*load_product_words(), *self._widenings,
                                      *(wider for words in self._widenings.values() for wider in words)})
        self._words = [*self._vocabulary, *self._synonyms, *self._synonyms.values(), *extra_words]
        self._tokeniser: Tokeniser | None = None
        self._lock = threading.Lock()

    def terms(self, text: str) -> Terms:
        """One group per thing the text names, the customer's own word first; [] when it names none."""
        groups: Terms = []
        for word in self._words_of(text):
            if self._left_out_word(word):
                continue
            group = self._group(word)
            if group not in groups:
                groups.append(group)
        return groups

    def _left_out_word(self, word: str) -> bool:
        if word in self._left_out or self._synonyms.get(word, word) in self._left_out or _SIZE.fullmatch(word):
            return True
        return len(word) == 1 and word not in self._vocabulary  # a lone character, unless a kind of product (裙)

    def _group(self, word: str) -> tuple[str, ...]:
        canonical = self._synonyms.get(word, word)
        related = [word, canonical, *self._variants.get(canonical, ())]
        related += [wider for each in tuple(related) for wider in self._widenings.get(each, ())]
        return tuple(dict.fromkeys(related))

    def _words_of(self, text: str) -> list[str]:
        # The customer's own words (synonyms are not folded by this tokeniser): a search for 面霜
        # should rank the 面霜 above the other skincare the synonym lexicon files with it.
        if self._tokeniser is None:
            with self._lock:
                if self._tokeniser is None:
                    self._tokeniser = Tokeniser(user_words=self._words, synonyms={})
        return self._tokeniser.tokens(text)


def _variants_of(synonyms: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """canonical → the words that fold into it (邮费, 快递费 → 运费)."""
    variants: dict[str, list[str]] = {}
    for variant, canonical in synonyms.items():
        variants.setdefault(canonical, []).append(variant)
    return {canonical: tuple(sorted(words)) for canonical, words in variants.items()}
