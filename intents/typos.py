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

import re
from collections.abc import Callable, Iterable

from pypinyin import Style, lazy_pinyin, pinyin

__all__ = ["HomophoneCorrector"]

_SHORTEST = 2
_LONGEST = 4
_CACHED_CHARACTERS = 20_000
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Numbers are meant as typed: 十点 is not a typo of 四点, however a southern speaker says them.
_NUMERALS = frozenset("〇一二两三四五六七八九十百千万几半")


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
        self._readings: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._vocabulary)

    def _reading_of(self, char: str) -> str:
        """The character's folded usual reading, "" for one that is not a Chinese character or is a numeral.

        The usual reading only: the rare ones (款 xin, 完 kuan) matched words nobody meant.
        """
        found = self._readings.get(char)
        if found is None:
            usable = _HAN.fullmatch(char) and char not in _NUMERALS
            found = _fold(pinyin(char, style=Style.NORMAL)[0][0]) if usable else ""
            if len(self._readings) > _CACHED_CHARACTERS:
                self._readings.clear()
            self._readings[char] = found
        return found

    def _correction(self, span: str) -> str | None:
        sound = tuple(self._reading_of(char) for char in span)
        if not all(sound):
            return None
        near = {word for word in self._by_sound.get(sound, ())
                if sum(a != b for a, b in zip(word, span, strict=True)) == 1}
        # Two KB words that sound like the span, each a character away: no telling which was meant.
        return near.pop() if len(near) == 1 else None

    def correct(self, pieces: list[str], is_word: Callable[[str], bool] | None = None,
                keep: Callable[[str], bool] | None = None,
                as_typed: Callable[[str, str], bool] | None = None) -> list[str]:
        """``pieces`` (a message cut by jieba) with homophone typos of KB words replaced; ``is_word`` tells
        a piece that is already a word of the KB (default: the vocabulary), ``keep`` a piece that is meant
        as it is (stop words such as 的 and 吗, words of everyday Chinese such as 收获): no span holding
        one is changed ("信吗" is not a typo of 行吗); ``as_typed(span, word)`` a span meant as typed
        although it sounds like the KB's ``word`` (打烊 beside 打样)."""
        if not self._by_sound:
            return pieces
        known = is_word or self._vocabulary.__contains__
        kept = [keep is not None and keep(piece) for piece in pieces]
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
                if any(kept[start:end]):
                    continue
                word = self._correction(span)
                if word is not None and as_typed is not None and as_typed(span, word):
                    word = None
                if word is not None:
                    out.append(word)
                    start = end
                    replaced = True
                    break
            if not replaced:
                out.append(pieces[start])
                start += 1
        return out
