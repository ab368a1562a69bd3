"""Homophone typos of the KB's own words, put right before a message is matched.

Customers type with a pinyin input method and pick the wrong character of the right sound: 发或 for
发货, 快第 for 快递, 推货 for 退货, 色叉 for 色差, 地指 for 地址, 自题 for 自提. jieba cuts such a typo
into single characters, so the word the KB knows never appears in the message; with a dozen
phrasings per FAQ some phrasing often shares the other character, with one or two it seldom does.

A span of the message's jieba pieces (two to four characters, not all of them already KB words) is
replaced by a word of the KB when the two sound alike — toneless pinyin, with the confusions
southern speakers make folded (z/zh, c/ch, s/sh, n/l, in/ing, en/eng) — and differ in exactly one
character. Only whole pieces are replaced, never part of one ("能发国外" keeps 国外 whatever the KB
says of 法国), and only words the KB itself uses (phrasings, answers, and the shipped synonym
lexicon's words that fold into them), so a correction always moves the message towards the KB.
The readings come from pypinyin's dictionary, which ships inside the package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import product

from pypinyin import Style, lazy_pinyin, pinyin

__all__ = ["HomophoneCorrector"]

_SHORTEST = 2
_LONGEST = 4
# At most this many readings of one span are tried (a span of four polyphonic characters has dozens).
_MAX_READINGS = 16
_CACHED_CHARACTERS = 20_000


def _fold(syllable: str) -> str:
    """Fold the initials and finals that Cantonese and other southern speakers mix up."""
    for hard, soft in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(hard):
            syllable = soft + syllable[len(hard):]
            break
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    if syllable.endswith("ng") and syllable[-3:-2] in ("i", "e"):
        syllable = syllable[:-1]
    return syllable


class HomophoneCorrector:
    """Puts right the homophone typos of ``vocabulary`` words in a message (see the module's docstring)."""

    def __init__(self, vocabulary: Iterable[str]) -> None:
        self._vocabulary = frozenset(word for word in vocabulary if _SHORTEST <= len(word) <= _LONGEST
                                     and all("\u4e00" <= char <= "\u9fff" for char in word))
        self._by_sound: dict[tuple[str, ...], list[str]] = {}
        for word in sorted(self._vocabulary):
            sound = tuple(_fold(syllable) for syllable in lazy_pinyin(word, style=Style.NORMAL))
            if len(sound) == len(word):
                self._by_sound.setdefault(sound, []).append(word)
        self._readings: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._vocabulary)

    def _readings_of(self, char: str) -> tuple[str, ...]:
        found = self._readings.get(char)
        if found is None:
            if "\u4e00" <= char <= "\u9fff":
                found = tuple(dict.fromkeys(_fold(r) for r in pinyin(char, style=Style.NORMAL, heteronym=True)[0]))
            else:
                found = ()
            if len(self._readings) > _CACHED_CHARACTERS:
                self._readings.clear()
            self._readings[char] = found
        return found

    def _correction(self, span: str) -> str | None:
        readings = [self._readings_of(char) for char in span]
        if not all(readings):
            return None
        found: str | None = None
        for count, sound in enumerate(product(*readings)):
            if count >= _MAX_READINGS:
                break
            for word in self._by_sound.get(sound, ()):
                if sum(a != b for a, b in zip(word, span, strict=True)) == 1:
                    if found is not None and found != word:
                        return None  # two KB words sound like it: no telling which was meant
                    found = word
        return found

    def correct(self, pieces: list[str], is_word: Callable[[str], bool] | None = None) -> list[str]:
        """``pieces`` (a message cut by jieba) with homophone typos of KB words replaced; ``is_word`` tells
        a piece that is already a word of the KB (default: the vocabulary)."""
        if not self._by_sound:
            return pieces
        known = is_word or self._vocabulary.__contains__
        out: list[str] = []
        start = 0
        while start < len(pieces):
            replaced = False
            length = 0
            for end in range(start + 1, len(pieces) + 1):
                length += len(pieces[end - 1])
                if length > _LONGEST:
                    break
                if length < _SHORTEST:
                    continue
                span_pieces = pieces[start:end]
                if all(len(piece) > 1 and known(piece) for piece in span_pieces):
                    continue
                span = "".join(span_pieces)
                if span in self._vocabulary:
                    continue
                word = self._correction(span)
                if word is not None:
                    out.append(word)
                    start = end
                    replaced = True
                    break
            if not replaced:
                out.append(pieces[start])
                start += 1
        return out
