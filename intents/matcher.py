"""The FAQ matcher: weighted token overlap with IDF, over jieba words, synonyms and characters.

A message and every stored phrasing become weighted features:

* words (jieba, synonyms canonicalised, numbers folded to one class) — what was asked about;
* character bigrams and single characters of the same text — a back-off for typos and
  homophones that jieba cuts differently ("快第到哪了", "物留信息");
* stop words (how people ask: 吗, 请问, 一下) keep a small weight so they never decide.

Each feature weighs its inverse document frequency (documents = FAQs), so "顺丰" decides more
than "快递"; features the KB never uses weigh the most, so a message full of other topics looks
unlike every FAQ. A word weighs less, too, the more common it is in Chinese at large (jieba's
dictionary counts): over a KB of a few dozen FAQs its IDF alone is noisy. A phrasing's score is
the weighted F-beta of the features it shares with the message (beta > 1: covering the stored
phrasing matters more than covering every word of a chatty message), blended with how much of
the message the FAQ covers as a whole: its phrasings and, with a smaller weight unless the FAQ has
few phrasings, the words of its answer (a store's own KB holds one or two phrasings per FAQ, and
the answer is often the only other place its topic's words appear). On such a KB characters and
character pairs weigh more, too: the customer's words are seldom the KB's own.

Scores are calibrated to the KB at load time, so the same thresholds suit a sparse KB and a dense
one: every phrasing (or a sample of them) is matched against the rest of the KB, and the median
score the best *other* FAQ reaches — how high a question the KB does not answer tends to score —
is mapped to the level it has on the demo's dense KB. Whether to answer also weighs the margin to
the runner-up against how much evidence the best FAQ has: with a phrasing or two, a lead has to be
wider to be trusted.

A store's own KB starts with one or two phrasings per FAQ. Such an FAQ borrows the distinctive words
of the shipped question bank's topics it is about (``intents.bank``: 52 questions every shop is asked,
28 wordings each), so "有没有免运门槛" reaches "运费怎么算"; and below the answer threshold it still
answers when the bank reads the message as one of its topics, or when it stands far above every other
FAQ of the shortlist.

Before a message is cut, homophone typos of the KB's own words are put right (发或 → 发货, 推货 →
退货, 地指 → 地址; see ``intents.typos``): jieba cuts such a typo into single characters, and on a KB of
one or two phrasings per FAQ no phrasing may share the other character.

Speed: an inverted index from feature to FAQs finds candidates from the rarer features only;
just the best few FAQs are then scored phrasing by phrasing.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from sys import intern

from foundation.memo import Memo
from intents.bank import assign_topics, distinctive, load_question_bank, topics_as_kb
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
from intents.typos import HomophoneCorrector

__all__ = ["BANK_MAX_FAQS", "BORROW_UNTIL", "MAX_CANDIDATES", "FaqMatcher", "Features", "calibrated_score",
           "margin_needed"]

MAX_CANDIDATES = 3

# Relative weight of each kind of feature (multiplied by its IDF).
_WORD = 1.0
_BIGRAM = 0.35
_CHAR = 0.15
# ... on a KB of _DENSE_PHRASINGS phrasings per FAQ or more (the demo's ~30); on a store's own KB of
# _SPARSE_PHRASINGS or fewer, characters weigh _SPARSE_CHAR and bigrams _SPARSE_BIGRAM (straight lines
# between): with a phrasing or two per FAQ the customer's words are seldom the KB's, and a shared
# character (退钱/退款, 开票/发票) is more of the evidence there is.
_SPARSE_BIGRAM = 0.3
_SPARSE_CHAR = 0.25
_SPARSE_PHRASINGS = 3.0
_DENSE_PHRASINGS = 10.0
_STOP = 0.15
# A word the KB never uses counts fully on a dense KB (it is most likely what an out-of-scope question
# is about), but on a KB of _SPARSE_PHRASINGS phrasings per FAQ or fewer only this much (straight lines
# between): with a phrasing or two per FAQ most of a customer's own words are unknown to the KB even
# when the question is in scope. Chosen on the sparse demo KBs' development sets among 0.4–1.0: 0.8
# added 0.7 points of accuracy without losing answered precision; lower values lost precision.
_SPARSE_UNKNOWN = 0.8
# Typo correction leaves alone a word this common in jieba's dictionary counts (收获, 不合, 那里: the
# customer most likely meant it) and never puts one in (所有, 一起: nobody mistypes them).
_COMMON_WORD_COUNT = 500
_NEUTRAL = 0.05
# A content word's weight is scaled by its informativeness in general Chinese: from _GENERAL_FLOOR
# for words as common as 看 or 可以 (-log share of jieba's dictionary counts about 6.8) up to 1 for
# words as rare as 积分 or rarer (about 11.3 and more) and for words the dictionary lacks (brands,
# 包邮). The floor stays above _STOP, so a common word still counts as content.
_GENERAL_COMMON = 6.0
_GENERAL_RARE = 12.0
_GENERAL_FLOOR = 0.25
_CACHED_WORDS = 100_000
# F-beta's beta squared: recall of the stored phrasing counts this many times its precision.
_BETA_SQUARED = 3.0
# Share of the final score that comes from the best single phrasing; the rest is how much of
# the message the FAQ covers as a whole (precision against all its phrasings and its answer).
# 0.4 rather than 0.6: with a sparse KB the best phrasing is one of two or three, and the whole
# FAQ (answer included) ranks the right one first more often; the dense KB's development sets
# moved by less than 2 points either way.
_PHRASING_SHARE = 0.4
# What a word of the answer counts for in covering the message, against a word of a phrasing: the
# answer tells what the FAQ is about ("地铁…站步行10分钟" for "怎么去你们店"), but it also says
# things besides, so it counts less. Answer words do not change the IDF (a long answer would
# otherwise make its common words look rare), but they are known words, not off-topic ones.
_ANSWER = 0.7
# ... and more with less evidence: _ANSWER_EVIDENCE divided by the FAQ's number of phrasings (question
# included) when that is more, at most _ANSWER_MAX. With one to three phrasings the answer counts as
# much as a phrasing (it is then much of what the KB says of the FAQ); from five on it is 0.7, so a
# dense KB such as the demo's (~30 phrasings per FAQ) scores as it did.
_ANSWER_EVIDENCE = 3.0
_ANSWER_MAX = 1.0
# Only an answer's opening is read: it says what the FAQ is about, and reading answers of up to 2,000
# characters would make indexing a large KB several times slower.
_ANSWER_CHARS = 120
# Calibration: the impostor level (see the module's docstring) on the demo's dense KB, where the
# default thresholds were chosen; at most this many phrasings are matched to measure a KB's own
# (a sample keeps it to a few seconds for 10,000 FAQs; the demo's 2,014 are all used), and below this many the
# reference level is used as it is.
_REFERENCE_IMPOSTOR = 0.42
_CALIBRATION_SAMPLE = 2000
_MIN_CALIBRATION = 8
# Features in more than this share of FAQs are too common to find candidates with (they still count
# when the candidates are scored); FAQs scored phrasing by phrasing after retrieval.
_MAX_POSTINGS_SHARE = 0.05
_MIN_POSTINGS_CAP = 100
# Scoring walks every phrasing of a shortlisted FAQ (about 30 each in the demo KB), so the shortlist
# is most of a message's cost. 16 gives the same outcomes and answers as scoring every FAQ on every
# case set and KB phrasing (tests/intents/test_kb.py checks it; 14 is the least that does, since
# answer words find candidates too), in about half the time of 30.
_SHORTLIST = 16
# Answer only when the best FAQ leads the next by this much, plus _EVIDENCE_MARGIN divided by the
# number of its phrasings (question included), however high it scores (a bare "口红" is all of
# several FAQs' topic, and covering a one-word message fully says nothing). On the demo KB's ~30
# phrasings per FAQ the second term is nothing; with the question alone it more than quadruples the
# lead needed: one wording is thin evidence that the FAQ, rather than its neighbour, is meant.
_MARGIN = 0.03
_EVIDENCE_MARGIN = 0.1
# A message that shares a single content word with the best FAQ and says something else besides is
# not answered ("机器人好笨" and "不要机器人") — unless the FAQ scores this high (calibrated) all the
# same: then the rest of the message is its phrasing's other characters, its answer's words or words
# of little weight. With one or two phrasings per FAQ the customer's own words are rarely the KB's,
# so many right answers share one word only (the rule held back a quarter of the right first places on
# the sparse KBs' cases); below 0.5
# the rule still holds back the wrong ones and the out-of-scope ones, which score lower.
_LONE_ANCHOR_UNTIL = 0.5
# A message is also answered when its best FAQ, one with few phrasings (under BORROW_UNTIL), stands
# far above the rest of the shortlist though it scores below the answer threshold (one or two
# phrasings rarely share many words with a customer; a dense KB's thresholds need no help): at
# least the suggest threshold, _STANDOUT_RATIO times the runner-up's score, and _STANDOUT_SPREAD
# standard deviations above the mean of the other shortlisted FAQs (0 for those not shortlisted).
# Chosen on the sparse demo KBs with the development sets written apart from the KB.
_STANDOUT_RATIO = 2.0
_STANDOUT_SPREAD = 4.0
# The question bank (intents/bank.py): an FAQ with fewer phrasings than BORROW_UNTIL (question
# included) is matched against the bank's topics; the topics the bank reads in its phrasings lend it
# their distinctive words (those at most _DISTINCTIVE of the 52 topics use), and a message's word found
# only there counts _BORROWED of a phrasing's in covering the message. A message the bank reads as
# one of the best FAQ's topics is answered from _AGREED_SHARE of the answer threshold on, when the FAQ
# leads the runner-up by _AGREED_RATIO and shares more than one word with the message (the lone-word
# rule): two independent readings agree. Chosen on the same development pairs, the most accurate
# settings whose answered precision stays where it was before the bank (93 % on every pair).
BORROW_UNTIL = 10
_DISTINCTIVE = 5
_BORROWED = 0.6
_AGREED_SHARE = 0.6
_AGREED_RATIO = 1.1
# A topic is lent to one FAQ only, so at most 52 FAQs gain; in a KB of thousands of FAQs (product by
# product) each topic is claimed by many, and reading every phrasing would cost seconds of indexing
# (about 0.4 ms a phrasing) for next to nothing. Larger KBs are not read.
BANK_MAX_FAQS = 1000
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_CLASS = "<num>"
_NUMBER_FEATURE = "w:" + _NUMBER_CLASS

Features = dict[str, float]  # feature -> kind weight (before IDF)


@dataclass(slots=True)
class _Phrasings:
    """An FAQ's phrasings for scoring: which phrasings hold each feature, and each one's mass.

    Scoring walks the message's few features through ``holding`` rather than every feature of every
    phrasing: a dense FAQ has hundreds, a message a dozen, and the KB's calibration at load time scores
    thousands of messages.
    """

    holding: dict[str, tuple[int, ...]]
    masses: tuple[float, ...]

    def __len__(self) -> int:
        return len(self.masses)


class FeatureExtractor:
    """Text → weighted features (kind weight only; IDF is applied by the matcher).

    ``known`` words (every word of the KB's phrasings and answers) keep their weight; an unknown word that
    only names a product, a day or a colour (the product and neutral lexicons and the catalog's
    user words) is given almost none, while any other unknown word counts fully on a dense KB (it is
    probably the topic) and a little less on a sparse one. Once ``known`` is set, a message's homophone
    typos of KB words (发或 for 发货) are put right before it is cut (``intents.typos``).
    """

    def __init__(self, tokeniser: Tokeniser, *, phrasings_per_faq: float = _DENSE_PHRASINGS) -> None:
        self._tokeniser = tokeniser
        sparseness = min(1.0, max(0.0, (_DENSE_PHRASINGS - phrasings_per_faq) / (_DENSE_PHRASINGS - _SPARSE_PHRASINGS)))
        self._bigram = _BIGRAM + (_SPARSE_BIGRAM - _BIGRAM) * sparseness
        self._char = _CHAR + (_SPARSE_CHAR - _CHAR) * sparseness
        self._unknown = 1.0 + (_SPARSE_UNKNOWN - 1.0) * sparseness
        self._stop_words = load_stop_words()
        self.not_a_question = self._stop_words | load_pleasantries()
        self.products = load_product_words() | tokeniser.user_words
        self.neutral = load_neutral_words() | self.products
        self.known: frozenset[str] | None = None  # None while the KB itself is being read
        self._informative: dict[str, float] = {}
        # Set once the KB is read: puts right homophone typos of its words in messages.
        self.corrector: HomophoneCorrector | None = None
        self._common_word_idf = math.log(tokeniser.total / _COMMON_WORD_COUNT)
        self._corrected: dict[str, str] = {}

    def use_corrector(self) -> None:
        """Correct messages towards the KB's own words (``known``), the shipped synonyms that fold into
        them included; stop words, products and neutral words are left alone."""
        if self.known is None:
            raise RuntimeError("the KB's words must be known before its typos can be corrected")
        synonyms = self._tokeniser.synonyms
        lexicon = {*synonyms, *synonyms.values()}
        content = {word for word in self.known if word not in self._stop_words and word not in self.neutral
                   and self._correctable(word, lexicon)}
        variants = {variant for variant, canonical in synonyms.items() if canonical in content}
        self.corrector = HomophoneCorrector(content | variants)

    def _correctable(self, word: str, lexicon: set[str]) -> bool:
        """Whether a KB word may stand in for a typo: a word of the shipped lexicon, or a word of
        everyday Chinese that is not among its most common (jieba's cut of a KB text also yields
        pieces such as 痘痘急 and common words such as 所有, which nobody mistypes)."""
        if word in lexicon:
            return True
        idf = self._tokeniser.general_idf(word)
        return idf is not None and idf > self._common_word_idf

    def _meant(self, piece: str) -> bool:
        """A piece no typo correction may change: a stop word, or a word common in everyday Chinese
        (收获, 不合, 那里: the customer most likely meant it)."""
        if piece in self._stop_words:
            return True
        idf = self._tokeniser.general_idf(piece) if len(piece) > 1 else None
        return idf is not None and idf <= self._common_word_idf

    def _as_typed(self, span: str, word: str) -> bool:
        """Whether a span that sounds like a KB word is meant as typed: it is itself a word of everyday
        Chinese at least as common as the KB's (打烊 is not a typo of 打样; an input method offers
        the commoner of two homophones first, so the rarer one is what a slip gives)."""
        typed = self._tokeniser.general_idf(span)
        meant = self._tokeniser.general_idf(word)
        return typed is not None and meant is not None and typed <= meant

    def _is_kb_word(self, piece: str) -> bool:
        return self.known is not None and self._tokeniser.synonyms.get(piece, piece) in self.known

    def words(self, text: str) -> list[str]:
        normalised = normalise(text)
        if self.corrector is not None:
            corrected = self._corrected.get(normalised)
            if corrected is None:
                pieces = self._tokeniser.pieces_of_normalised(normalised)
                corrected = "".join(self.corrector.correct(pieces, self._is_kb_word, self._meant, self._as_typed))
                if len(self._corrected) > _CACHED_WORDS:
                    self._corrected.clear()
                self._corrected[normalised] = corrected
            normalised = corrected
        tokens = self._tokeniser.tokens_of_normalised(normalised)
        return [_NUMBER_CLASS if _NUMBER.fullmatch(token) else token for token in tokens]

    def _informativeness(self, word: str) -> float:
        """How much a content word can say about a topic, from how common it is in Chinese at large.

        A KB's own IDF is all the matcher knows of a word, and over a few dozen FAQs it is noisy:
        在哪里看 can outweigh 积分 in "积分在哪里看" because few FAQs happen to say 哪里 or 看.
        """
        found = self._informative.get(word)
        if found is None:
            idf = self._tokeniser.general_idf(word)
            span = (idf - _GENERAL_COMMON) / (_GENERAL_RARE - _GENERAL_COMMON) if idf is not None else 1.0
            found = min(1.0, max(_GENERAL_FLOOR, span))
            if len(self._informative) > _CACHED_WORDS:
                self._informative.clear()
            self._informative[word] = found
        return found

    def features(self, text: str) -> Features:
        features: Features = {}
        content: list[str] = []
        for word in self.words(text):
            if word in self._stop_words:
                features[intern("w:" + word)] = _STOP
            elif self.known is not None and word not in self.known and word in self.neutral:
                features[intern("w:" + word)] = _NEUTRAL
            else:
                weight = _WORD * self._informativeness(word)
                if self.known is not None and word not in self.known:
                    weight *= self._unknown
                features[intern("w:" + word)] = weight
                if word != _NUMBER_CLASS:
                    content.append(word)
        joined = "".join(content)
        for i in range(len(joined) - 1):
            features.setdefault(intern("b:" + joined[i : i + 2]), self._bigram)
        for char in joined:
            features.setdefault(intern("c:" + char), self._char)
        return features


# Calibration levels of KBs built before in this process, by a digest of everything the level depends on
# (every FAQ's features, as this tokeniser extracts them): a process that builds the same matcher again
# (a reload of an unchanged file, another app in the same process) does not score its phrasings again.
_LEVELS: Memo[float] = Memo(kept=8)
_MATCHERS: Memo[FaqMatcher] = Memo(kept=4)
_BANKS: Memo[FaqMatcher] = Memo(kept=4)  # the question bank's matcher, by tokeniser


def _features_digest(faq_features: list[tuple[Features, list[Features]]], answers: list[Features],
                     borrowed: list[frozenset[str]]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for (_, phrasings), answer, words in zip(faq_features, answers, borrowed, strict=True):
        for features in (*phrasings, answer):
            digest.update(repr(sorted(features.items())).encode())
        digest.update(repr(sorted(words)).encode())
        digest.update(b"|")
    return digest.hexdigest()


class FaqMatcher:
    """Ranks the enabled FAQs of a KB for a message and decides answer / suggest / fallback."""

    def __init__(
        self,
        kb: KnowledgeBase,
        tokeniser: Tokeniser | None = None,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        question_bank: bool = True,
    ) -> None:
        if not 0.0 <= suggest_threshold <= answer_threshold <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= suggest ({suggest_threshold}) <= answer ({answer_threshold}) <= 1"
            )
        self.answer_threshold = answer_threshold
        self.suggest_threshold = suggest_threshold
        enabled = kb.enabled
        phrasings_per_faq = sum(len(faq.phrasings()) for faq in enabled) / max(len(enabled), 1)
        tokeniser = tokeniser or Tokeniser()
        extractor = FeatureExtractor(tokeniser, phrasings_per_faq=phrasings_per_faq)
        self._products = extractor.products
        self._not_a_question = extractor.not_a_question
        self._extract = extractor.features
        self._faqs: list[Faq] = list(enabled)
        faq_features = [self._faq_features(faq) for faq in self._faqs]
        answers = [self._extract(faq.answer[:_ANSWER_CHARS]) for faq in self._faqs]
        # The answer's features that no phrasing of the FAQ has: they count _ANSWER times as much.
        self._faq_answer = [frozenset(f for f in answer if f not in union)
                            for answer, (union, _) in zip(answers, faq_features, strict=True)]
        self._bank: FaqMatcher | None = None  # the question bank's matcher, when some FAQ has topics
        self._topics: dict[str, frozenset[str]] = {}  # FAQ id → its bank topics
        self.bank_read = False  # whether the KB's FAQs with few phrasings were read against the bank
        borrowed = self._borrowed_words(tokeniser) if question_bank else [frozenset()] * len(self._faqs)
        self._faq_borrowed = [words - union.keys() - answer.keys()
                              for words, (union, _), answer in zip(borrowed, faq_features, answers, strict=True)]
        extractor.known = frozenset(
            f[2:] for features in (*(union for union, _ in faq_features), *answers, *self._faq_borrowed)
            for f in features if f.startswith("w:")
        )
        self._idf, self._unseen_idf = _inverse_document_frequencies(union for union, _ in faq_features)
        self._faq_union = [frozenset(union) for union, _ in faq_features]
        self._faq_number = {faq.id: number for number, faq in enumerate(self._faqs)}
        self._phrasings = [self._scoring_phrasings(phrasings) for _, phrasings in faq_features]
        self._answer_weight = [min(_ANSWER_MAX, max(_ANSWER, _ANSWER_EVIDENCE / max(len(phrasings), 1)))
                               for phrasings in self._phrasings]
        self._postings = self._build_postings()
        self._max_postings = max(_MIN_POSTINGS_CAP, int(len(self._faqs) * _MAX_POSTINGS_SHARE))
        self._impostor = _LEVELS.get(_features_digest(faq_features, answers, self._faq_borrowed),
                                     self._impostor_level)
        # Only now: the calibration reads the KB's own phrasings as they were written (typos a store
        # stored on purpose included), so typo correction leaves a KB's impostor level as it was.
        extractor.use_corrector()

    @classmethod
    def shared(cls, kb: KnowledgeBase, tokeniser: Tokeniser, *, answer_threshold: float,
               suggest_threshold: float) -> FaqMatcher:
        """The matcher for this KB, cut by a tokeniser like this one, built once per process: a reload of
        an unchanged file or another app of the process takes the same (its caches are only caches)."""
        digest = hashlib.blake2b(repr(kb.faqs).encode(), digest_size=16).hexdigest()
        key = f"{digest}|{tokeniser.key}|{answer_threshold!r}|{suggest_threshold!r}"
        return _MATCHERS.get(key, lambda: cls(kb, tokeniser, answer_threshold=answer_threshold,
                                                suggest_threshold=suggest_threshold))

    def _borrowed_words(self, tokeniser: Tokeniser) -> list[frozenset[str]]:
        """Per FAQ, the word features it borrows from the question bank's topics (none for most)."""
        thin = [faq for faq in self._faqs if len(faq.phrasings()) < BORROW_UNTIL]
        if not thin or len(self._faqs) > BANK_MAX_FAQS:
            return [frozenset()] * len(self._faqs)
        self.bank_read = True
        bank = _BANKS.get(tokeniser.key, lambda: FaqMatcher(topics_as_kb(load_question_bank()), tokeniser,
                                                            question_bank=False))
        self._topics = assign_topics(thin, bank.match)
        if self._topics:
            self._bank = bank
        words = bank.topic_words()
        return [frozenset().union(*(words[topic] for topic in self._topics.get(faq.id, ()))) for faq in self._faqs]

    def topic_words(self) -> dict[str, frozenset[str]]:
        """Per FAQ id, the word features few other FAQs use (read on the question bank's own matcher)."""
        # Content words only: a stop word or pleasantry few topics happen to use (亲, 呗) tells nothing apart.
        words = {faq.id: {f for f in union if f.startswith("w:") and f[2:] not in self._not_a_question}
                 for faq, union in zip(self._faqs, self._faq_union, strict=True)}
        return distinctive(words, at_most=_DISTINCTIVE)

    def topics_of(self, faq_id: str) -> frozenset[str]:
        """The question bank's topics the FAQ is about (empty for most FAQs of a dense KB)."""
        return self._topics.get(faq_id, frozenset())

    def _impostor_level(self) -> float:
        """The median raw score that the best *other* FAQ reaches for the KB's own phrasings.

        It is how high a question this KB does not answer tends to score here, and it moves with
        the KB: many phrasings per FAQ cover more of any message than one or two do.
        """
        scores = sorted(self._impostor_score(number, text) for number, text in self._calibration_sample())
        if len(scores) < _MIN_CALIBRATION:
            return _REFERENCE_IMPOSTOR
        return min(max(scores[len(scores) // 2], 0.05), 0.95)

    def _calibration_sample(self) -> list[tuple[int, str]]:
        """(FAQ number, phrasing) pairs spread evenly over the KB, at most about _CALIBRATION_SAMPLE."""
        every = [(number, text) for number, faq in enumerate(self._faqs) for text in faq.phrasings()]
        return every[:: max(1, len(every) // _CALIBRATION_SAMPLE)]

    def _impostor_score(self, number: int, text: str) -> float:
        query = {feature: self._weight(feature, kind) for feature, kind in self._extract(text).items()}
        mass = sum(query.values())
        if mass <= 0:
            return 0.0
        others = (other for other in self._shortlist(query) if other != number)
        return max((self._score(other, query, mass) for other in others), default=0.0)

    @property
    def impostor_level(self) -> float:
        """The raw score a question this KB does not answer tends to reach (see the module's docstring)."""
        return self._impostor

    def _faq_features(self, faq: Faq) -> tuple[Features, list[Features]]:
        phrasings = [self._extract(phrasing) for phrasing in faq.phrasings()]
        union: Features = {}
        for features in phrasings:
            for feature, kind in features.items():
                union[feature] = max(kind, union.get(feature, 0.0))
        return union, phrasings

    def _scoring_phrasings(self, phrasings: list[Features]) -> _Phrasings:
        holding: dict[str, list[int]] = {}
        for position, features in enumerate(phrasings):
            for feature in features:
                holding.setdefault(feature, []).append(position)
        return _Phrasings({feature: tuple(positions) for feature, positions in holding.items()},
                          tuple(self._mass(features) for features in phrasings))

    def _build_postings(self) -> dict[str, list[int]]:
        postings: dict[str, list[int]] = {}
        for number, union in enumerate(self._faq_union):
            for feature in (*union, *self._faq_answer[number], *self._faq_borrowed[number]):
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
        ranked, standing = self._ranked_and_standing(features, MAX_CANDIDATES)
        if not _content_words(features) or made_only_of(normalise(text), self._not_a_question):
            # Only how-words, particles, greetings and acknowledgements ("在吗亲", "下午好", "好的收到"):
            # there is no question to answer, however well such words line up with some stored phrasing.
            return MatchResult(Outcome.FALLBACK, tuple(ranked))
        if ranked and self._confident(text, features, ranked, standing):
            return MatchResult(Outcome.ANSWER, tuple(ranked))
        if ranked and ranked[0].score >= self.suggest_threshold:
            offered = tuple(c for c in ranked if c.score >= self.suggest_threshold)
            return MatchResult(Outcome.SUGGEST, offered)
        return MatchResult(Outcome.FALLBACK, tuple(ranked))

    def _confident(self, text: str, features: Features, ranked: list[Candidate], standing: float) -> bool:
        """Whether the best FAQ answers the message: it scores high enough with a clear lead, or (an FAQ
        with few phrasings) it stands far above the rest, or the question bank reads the message as one
        of its topics."""
        top, best = ranked[0].faq, ranked[0].score
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        # Two FAQs about equally close: asking is better than guessing.
        clear = best - runner_up >= self._margin_needed(top)
        if best >= self.answer_threshold and clear:
            return best >= _LONE_ANCHOR_UNTIL or not self._lone_anchor(features, top)
        return self._stands_out(top, best, runner_up, standing, features) or self._agreed(
            text, top, best, runner_up, features)

    def _stands_out(self, faq: Faq, best: float, runner_up: float, standing: float, features: Features) -> bool:
        return (self._thin(faq) and best >= self.suggest_threshold and best >= _STANDOUT_RATIO * runner_up
                and standing >= _STANDOUT_SPREAD and self._about_it(features, faq))

    def _agreed(self, text: str, faq: Faq, best: float, runner_up: float, features: Features) -> bool:
        return (best >= _AGREED_SHARE * self.answer_threshold and best >= _AGREED_RATIO * runner_up
                and self._about_it(features, faq) and self._bank_agrees(text, faq))

    def _about_it(self, features: Features, faq: Faq) -> bool:
        """The message shares a content word with the FAQ (its phrasings, answer or borrowed words), and
        not just one beside words of its own (the lone-word rule): a score made of characters and
        particles alone ("你们卖奶茶吗" and "包邮吗" share 吗) is no reason to answer below the threshold."""
        number = self._faq_number[faq.id]
        known = (self._faq_union[number], self._faq_answer[number], self._faq_borrowed[number])
        return (any(any(word in words for words in known) for word in _content_words(features))
                and not self._lone_anchor(features, faq))

    def _thin(self, faq: Faq) -> bool:
        return len(self._phrasings[self._faq_number[faq.id]]) < BORROW_UNTIL

    def _bank_agrees(self, text: str, faq: Faq) -> bool:
        """Whether the question bank answers the message with one of the FAQ's topics."""
        topics = self._topics.get(faq.id)
        if not topics or self._bank is None:
            return False
        said = self._bank.match(text)
        return said.outcome is Outcome.ANSWER and said.best is not None and said.best.faq.id in topics

    def _margin_needed(self, faq: Faq) -> float:
        return margin_needed(len(self._phrasings[self._faq_number[faq.id]]))

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
        # a product named besides (少发了一个口红) does not change what is asked, and a word sharing a
        # character with the FAQ is more likely its own word said another way (开票 for 发票, 团长 for
        # 团购) than another topic.
        return shared == 1 and any(
            feature not in union and len(feature) > len("w:") + 1 and feature[2:] not in self._products
            and not any("c:" + char in union for char in feature[2:])
            for feature in content
        )

    def _ranked(self, features: Features, limit: int) -> list[Candidate]:
        return self._ranked_and_standing(features, limit)[0]

    def _ranked_and_standing(self, features: Features, limit: int) -> tuple[list[Candidate], float]:
        """The best ``limit`` FAQs, and how far the best stands above the rest of the shortlist."""
        query = {feature: self._weight(feature, kind) for feature, kind in features.items()}
        query_mass = sum(query.values())
        if query_mass <= 0:
            return [], 0.0
        scored = [(self._score(number, query, query_mass), number) for number in self._shortlist(query)]
        # Ties go to the FAQ earlier in the file, so results do not depend on retrieval order.
        best = heapq.nlargest(limit, scored, key=lambda pair: (pair[0], -pair[1]))
        ranked = [Candidate(self._faqs[number], round(min(calibrated_score(score, self._impostor), 1.0), 4))
                  for score, number in best if score > 0]
        return ranked, standing([score for score, _ in scored])

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
        union, answer_only, borrowed = self._faq_union[number], self._faq_answer[number], self._faq_borrowed[number]
        phrasings = self._phrasings[number]
        holding, masses = phrasings.holding, phrasings.masses
        in_union = in_answer = in_borrowed = 0.0
        shared: dict[int, float] = {}
        for feature, weight in query.items():
            if feature in union:
                in_union += weight
                for position in holding.get(feature, ()):
                    shared[position] = shared.get(position, 0.0) + weight
            elif feature in answer_only:
                in_answer += weight
            elif feature in borrowed:
                in_borrowed += weight
        covered = (in_union + self._answer_weight[number] * in_answer + _BORROWED * in_borrowed) / query_mass
        best = max(((1 + _BETA_SQUARED) * overlap / (_BETA_SQUARED * masses[position] + query_mass)
                    for position, overlap in shared.items()), default=0.0)
        return _PHRASING_SHARE * best + (1 - _PHRASING_SHARE) * covered


def standing(scores: list[float]) -> float:
    """How many standard deviations the best score lies above the others of the shortlist (an FAQ
    not shortlisted counts as 0, so a short shortlist is padded to _SHORTLIST)."""
    if not scores:
        return 0.0
    ordered = sorted(scores, reverse=True)
    rest = ordered[1:_SHORTLIST] + [0.0] * (_SHORTLIST - len(ordered))
    mean = sum(rest) / len(rest)
    spread = math.sqrt(sum((s - mean) ** 2 for s in rest) / len(rest))
    return (ordered[0] - mean) / max(spread, 1e-6)


def calibrated_score(score: float, impostor_level: float) -> float:
    """A raw score mapped piecewise linearly so that a KB's impostor level lands on the reference
    KB's (0 and 1 stay put): the thresholds then mean the same on any KB."""
    if score <= impostor_level:
        return score * _REFERENCE_IMPOSTOR / impostor_level
    return _REFERENCE_IMPOSTOR + (score - impostor_level) * (1 - _REFERENCE_IMPOSTOR) / (1 - impostor_level)


def margin_needed(phrasings: int) -> float:
    """The lead over the runner-up an FAQ with this many phrasings needs to be answered with."""
    return _MARGIN + _EVIDENCE_MARGIN / max(phrasings, 1)


def _content_words(features: Features) -> list[str]:
    """The message's word features that say what it is about (not stop words, numbers or neutral words)."""
    return [feature for feature, kind in features.items()
            if kind > _STOP and feature.startswith("w:") and feature != _NUMBER_FEATURE]


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
