"""Grouping unanswered questions by similarity, so staff see which FAQs are missing.

Questions are compared by their content words (tokeniser: jieba, synonyms, no stop words): the
weight of the words two questions share over the weight of the shorter question's words, a single
character weighing half a word. The overlap is taken over the shorter question because customers
add words ("能寄到俄罗斯吗" and "俄罗斯能寄吗" are one gap). Each question joins the first group
whose founding question is similar enough, else starts a group; an inverted index keeps that to the
groups sharing a word, so thousands of questions group in well under a second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from intents.text import Tokeniser, load_stop_words, normalise

__all__ = ["DEFAULT_SIMILARITY", "GapCluster", "cluster_questions"]

# Similarity at which two questions count as the same gap: groups "能寄到俄罗斯吗" with
# "可以发俄罗斯吗" (0.75) but keeps "俄罗斯套娃有卖吗" apart (0.4).
DEFAULT_SIMILARITY = 0.5
_EXAMPLES = 3


@dataclass
class GapCluster:
    count: int = 0
    texts: Counter[str] = field(default_factory=Counter)
    words: Counter[str] = field(default_factory=Counter)
    chosen: Counter[str] = field(default_factory=Counter)  # FAQ id → times tapped in the question's menu

    @property
    def examples(self) -> list[str]:
        """The most asked distinct wordings, most frequent first."""
        return [text for text, _ in self.texts.most_common(_EXAMPLES)]

    @property
    def keywords(self) -> list[str]:
        return [word for word, _ in self.words.most_common(3)]

    @property
    def picked(self) -> list[tuple[str, int]]:
        """(FAQ id, times) the customers tapped in the 猜你想问 menus these questions got, most first."""
        return self.chosen.most_common()

    def as_dict(self) -> dict[str, object]:
        return {"count": self.count, "keywords": self.keywords, "examples": self.examples,
                "chosen": [{"faq_id": faq_id, "times": times} for faq_id, times in self.picked]}


class _Grouper:
    def __init__(self, tokeniser: Tokeniser, similarity: float) -> None:
        self._tokeniser = tokeniser
        self._stop_words = load_stop_words()
        self._similarity = similarity
        self.clusters: list[GapCluster] = []
        self._seeds: list[dict[str, float]] = []
        self._index: dict[str, list[int]] = {}
        self.cluster_of: dict[str, int] = {}  # question text → its group's number

    def content_words(self, text: str) -> list[str]:
        return [word for word in self._tokeniser.tokens(text) if word not in self._stop_words]

    def add(self, text: str, times: int) -> None:
        words = self.content_words(text)
        features = {word: 1.0 if len(word) > 1 else 0.5 for word in words}
        number = self._find(features)
        if number is None:
            number = len(self.clusters)
            self.clusters.append(GapCluster())
            self._seeds.append(features)
            for feature in features:
                self._index.setdefault(feature, []).append(number)
        self.cluster_of[text] = number
        cluster = self.clusters[number]
        cluster.count += times
        cluster.texts[text] += times
        for word in words:
            cluster.words[word] += times

    def _find(self, features: dict[str, float]) -> int | None:
        if not features:
            return None
        mass = sum(features.values())
        candidates = sorted({number for feature in features for number in self._index.get(feature, ())})
        for number in candidates:
            seed = self._seeds[number]
            shared = sum(weight for word, weight in features.items() if word in seed)
            if shared / min(mass, sum(seed.values())) >= self._similarity:
                return number
        return None


def cluster_questions(
    texts: Iterable[str], tokeniser: Tokeniser, *, similarity: float = DEFAULT_SIMILARITY,
    choices: Iterable[tuple[str, str]] = (),
) -> list[GapCluster]:
    """Groups of similar questions, largest first (ties: the group seen first); ``choices`` are (question,
    FAQ id) pairs of questions whose 猜你想问 menu the customer tapped, counted on the question's group."""
    stripped = (text.strip() for text in texts)
    counts = Counter(text for text in stripped if normalise(text))
    grouper = _Grouper(tokeniser, similarity)
    # The most repeated wordings found the groups, so a group is named by its typical question.
    for text, times in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        grouper.add(text, times)
    for text, faq_id in choices:
        number = grouper.cluster_of.get(text.strip())
        if number is not None:
            grouper.clusters[number].chosen[faq_id] += 1
    order = sorted(range(len(grouper.clusters)), key=lambda number: (-grouper.clusters[number].count, number))
    return [grouper.clusters[number] for number in order]
