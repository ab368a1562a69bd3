"""The FAQ matcher: weighted token overlap with IDF, over jieba words, synonyms and characters.

A message and every stored phrasing become weighted features:

* words (jieba, synonyms canonicalised, numbers folded to one class) — what was asked about;
* character bigrams and single characters of the same text — a back-off for typos and
  homophones that jieba cuts differently ("快第到哪了", "物留信息");
* stop words (how people ask: 吗, 请问, 一下) keep a small weight so they never decide.

Each feature weighs its inverse document frequency (documents = FAQs), so "顺丰" decides more
than "快递"; features the KB never uses weigh the most, so a message full of other topics looks
unlike every FAQ. A phrasing's score is the weighted F-beta of the features it shares with the
message (beta > 1: covering the stored phrasing matters more than covering every word of a
chatty message), blended with how much of the message the FAQ's phrasings cover together.

Speed: an inverted index from feature to FAQs finds candidates from the rarer features only;
just the best few FAQs are then scored phrasing by phrasing.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from sys import intern

from intents.kb import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_SUGGEST_THRESHOLD,
    Candidate,
    Faq,
    KnowledgeBase,
    MatchResult,
    Outcome,
)
from intents.text import (
    Tokeniser,
    load_neutral_words,
    load_pleasantries,
    load_product_words,
    load_stop_words,
    made_only_of,
    normalise,
)

__all__ = ["MAX_CANDIDATES", "FaqMatcher", "Features"]

MAX_CANDIDATES = 3

# Relative weight of each kind of feature (multiplied by its IDF).
_WORD = 1.0
_BIGRAM = 0.35
_CHAR = 0.15
_STOP = 0.15
_NEUTRAL = 0.05
# F-beta's beta squared: recall of the stored phrasing counts this many times its precision.
_BETA_SQUARED = 3.0
# Share of the final score that comes from the best single phrasing; the rest is how much of
# the message all the FAQ's phrasings cover together (precision against the FAQ as a whole).
_PHRASING_SHARE = 0.6
# Features in more than this share of FAQs are too common to find candidates with (they still count
# when the candidates are scored); FAQs scored phrasing by phrasing after retrieval.
_MAX_POSTINGS_SHARE = 0.05
_MIN_POSTINGS_CAP = 100
# Scoring walks every phrasing of a shortlisted FAQ (about 30 each in the demo KB), so the shortlist
# is most of a message's cost. 12 gives the same outcomes and answers as scoring every FAQ on every
# case set and KB phrasing (tests/intents/test_kb.py checks it), in less than half the time of 30.
_SHORTLIST = 12
# Answer only when the best FAQ leads the next by this much, unless it is all but certain.
_MARGIN = 0.03
_SURE = 0.7
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_CLASS = "<num>"
_NUMBER_FEATURE = "w:" + _NUMBER_CLASS

Features = dict[str, float]  # feature -> kind weight (before IDF)


@dataclass(slots=True)
class _Phrasing:
    # A tuple of interned strings, not a set: at 10,000 FAQs a set per phrasing costs several
    # times the memory, and scoring walks the phrasing's features anyway.
    features: tuple[str, ...]
    mass: float


class FeatureExtractor:
    """Text → weighted features (kind weight only; IDF is applied by the matcher).

    ``known`` words (every word of the KB's phrasings) keep their weight; an unknown word that
    only names a product, a day or a colour (the product and neutral lexicons and the catalog's
    user words) is given almost none, while any other unknown word counts fully: it is probably
    the topic.
    """

    def __init__(self, tokeniser: Tokeniser) -> None:
        self._tokeniser = tokeniser
        self._stop_words = load_stop_words()
        self.not_a_question = self._stop_words | load_pleasantries()
        self.products = load_product_words() | tokeniser.user_words
        self.neutral = load_neutral_words() | self.products
        self.known: frozenset[str] | None = None  # None while the KB itself is being read

    def words(self, text: str) -> list[str]:
        tokens = self._tokeniser.tokens_of_normalised(normalise(text))
        return [_NUMBER_CLASS if _NUMBER.fullmatch(token) else token for token in tokens]

    def features(self, text: str) -> Features:
        features: Features = {}
        content: list[str] = []
        for word in self.words(text):
            if word in self._stop_words:
                features[intern("w:" + word)] = _STOP
            elif self.known is not None and word not in self.known and word in self.neutral:
                features[intern("w:" + word)] = _NEUTRAL
            else:
                features[intern("w:" + word)] = _WORD
                if word != _NUMBER_CLASS:
                    content.append(word)
        joined = "".join(content)
        for i in range(len(joined) - 1):
            features.setdefault(intern("b:" + joined[i : i + 2]), _BIGRAM)
        for char in joined:
            features.setdefault(intern("c:" + char), _CHAR)
        return features


class FaqMatcher:
    """Ranks the enabled FAQs of a KB for a message and decides answer / suggest / fallback."""

    def __init__(
        self,
        kb: KnowledgeBase,
        tokeniser: Tokeniser | None = None,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
    ) -> None:
        if not 0.0 <= suggest_threshold <= answer_threshold <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= suggest ({suggest_threshold}) <= answer ({answer_threshold}) <= 1"
            )
        self.answer_threshold = answer_threshold
        self.suggest_threshold = suggest_threshold
        extractor = FeatureExtractor(tokeniser or Tokeniser())
        self._products = extractor.products
        self._not_a_question = extractor.not_a_question
        self._extract = extractor.features
        self._faqs: list[Faq] = list(kb.enabled)
        faq_features = [self._faq_features(faq) for faq in self._faqs]
        extractor.known = frozenset(f[2:] for union, _ in faq_features for f in union if f.startswith("w:"))
        self._idf, self._unseen_idf = _inverse_document_frequencies(union for union, _ in faq_features)
        self._faq_union = [tuple(union) for union, _ in faq_features]
        self._faq_number = {faq.id: number for number, faq in enumerate(self._faqs)}
        self._phrasings: list[list[_Phrasing]] = [
            [_Phrasing(tuple(f), self._mass(f)) for f in phrasings] for _, phrasings in faq_features
        ]
        self._postings = self._build_postings()
        self._max_postings = max(_MIN_POSTINGS_CAP, int(len(self._faqs) * _MAX_POSTINGS_SHARE))

    def _faq_features(self, faq: Faq) -> tuple[Features, list[Features]]:
        phrasings = [self._extract(phrasing) for phrasing in faq.phrasings()]
        union: Features = {}
        for features in phrasings:
            for feature, kind in features.items():
                union[feature] = max(kind, union.get(feature, 0.0))
        return union, phrasings

    def _build_postings(self) -> dict[str, list[int]]:
        postings: dict[str, list[int]] = {}
        for number, union in enumerate(self._faq_union):
            for feature in union:
                postings.setdefault(feature, []).append(number)
        return postings

    def _weight(self, feature: str, kind: float) -> float:
        # A feature no FAQ has gets the highest IDF: a word the KB never uses is most likely the
        # topic of a question it does not cover.
        return kind * self._idf.get(feature, self._unseen_idf)

    def _mass(self, features: Features) -> float:
        return sum(self._weight(feature, kind) for feature, kind in features.items())

    # ------------------------------------------------------------------ matching

    def match(self, text: str) -> MatchResult:
        features = self._extract(text)
        ranked = self._ranked(features, MAX_CANDIDATES)
        if not _content_words(features) or made_only_of(normalise(text), self._not_a_question):
            # Only how-words, particles, greetings and acknowledgements ("在吗亲", "下午好", "好的收到"):
            # there is no question to answer, however well such words line up with some stored phrasing.
            return MatchResult(Outcome.FALLBACK, tuple(ranked))
        best = ranked[0].score if ranked else 0.0
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        # Two FAQs about equally close: asking is better than guessing.
        clear = best - runner_up >= _MARGIN or best >= _SURE
        if best >= self.answer_threshold and clear and not self._lone_anchor(features, ranked[0].faq):
            return MatchResult(Outcome.ANSWER, tuple(ranked))
        if best >= self.suggest_threshold:
            offered = tuple(c for c in ranked if c.score >= self.suggest_threshold)
            return MatchResult(Outcome.SUGGEST, offered)
        return MatchResult(Outcome.FALLBACK, tuple(ranked))

    def rank(self, text: str, limit: int = MAX_CANDIDATES) -> list[Candidate]:
        """The best ``limit`` distinct FAQs for ``text`` with their scores, best first."""
        return self._ranked(self._extract(text), limit)

    def _lone_anchor(self, features: Features, faq: Faq) -> bool:
        """True when the FAQ shares exactly one content word with the message and the message
        has other content words besides: "机器人好笨" shares only 机器人 with "不要机器人", and
        what it does not share is what it is really about."""
        union = self._faq_union[self._faq_number[faq.id]]
        content = _content_words(features)
        shared = sum(feature in union for feature in content)
        # A single character left over (发, 退, 换) is too vague to be what the question is about,
        # and a product named besides (少发了一个口红) does not change what is asked.
        return shared == 1 and any(
            feature not in union and len(feature) > len("w:") + 1 and feature[2:] not in self._products
            for feature in content
        )

    def _ranked(self, features: Features, limit: int) -> list[Candidate]:
        query = {feature: self._weight(feature, kind) for feature, kind in features.items()}
        query_mass = sum(query.values())
        if query_mass <= 0:
            return []
        scored = [(self._score(number, query, query_mass), number) for number in self._shortlist(query)]
        # Ties go to the FAQ earlier in the file, so results do not depend on retrieval order.
        best = heapq.nlargest(limit, scored, key=lambda pair: (pair[0], -pair[1]))
        return [Candidate(self._faqs[number], round(min(score, 1.0), 4)) for score, number in best if score > 0]

    def _shortlist(self, query: dict[str, float]) -> list[int]:
        """FAQs sharing the query's rarer features, the most promising first."""
        partial: dict[int, float] = {}
        for feature, weight in query.items():
            faqs = self._postings.get(feature)
            # Single characters only refine the score: as finders they would touch half the KB.
            if faqs is None or len(faqs) > self._max_postings or feature.startswith("c:"):
                continue
            for number in faqs:
                partial[number] = partial.get(number, 0.0) + weight
        return heapq.nlargest(_SHORTLIST, partial, key=partial.__getitem__)

    def _score(self, number: int, query: dict[str, float], query_mass: float) -> float:
        weight_of = query.get
        covered = sum(weight_of(feature, 0.0) for feature in self._faq_union[number]) / query_mass
        best = 0.0
        for phrasing in self._phrasings[number]:
            shared = sum(weight_of(feature, 0.0) for feature in phrasing.features)
            f_score = (1 + _BETA_SQUARED) * shared / (_BETA_SQUARED * phrasing.mass + query_mass)
            best = max(best, f_score)
        return _PHRASING_SHARE * best + (1 - _PHRASING_SHARE) * covered


def _content_words(features: Features) -> list[str]:
    """The message's word features that say what it is about (not stop words, numbers or neutral words)."""
    return [feature for feature, kind in features.items() if kind == _WORD and feature != _NUMBER_FEATURE]


def _inverse_document_frequencies(documents: Iterable[Features]) -> tuple[dict[str, float], float]:
    """IDF per feature (documents = FAQs) and the IDF of a feature no FAQ has.

    Smoothed so a feature present in every FAQ keeps a small positive weight.
    """
    frequency: dict[str, int] = {}
    count = 0
    for document in documents:
        count += 1
        for feature in document:
            frequency[feature] = frequency.get(feature, 0) + 1

    def idf(df: int) -> float:
        return math.log((count + 1) / (df + 0.5))

    return {feature: idf(df) for feature, df in frequency.items()}, idf(0)
