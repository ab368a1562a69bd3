"""The question bank: common customer-service questions in many wordings, shipped with chatshop.

A store's own KB starts with a question and one or two phrasings per FAQ, and a customer seldom uses
their words ("今晚九点半过去还开着吗" for "门店几点开门"). The bank (``lexicon/questions.yaml``) holds
52 topics that shops of every kind are asked about (营业时间, 运费, 退款到账 …), each in about 28
wordings. An FAQ with few phrasings whose own phrasings the bank reads as one of its topics borrows
that topic's distinctive words (``intents.matcher`` counts them, with less weight, where a message's
words are covered). This module reads the bank and decides which FAQ is about which topic; the matcher
does the matching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from intents.errors import KnowledgeBaseError
from intents.kb import Faq, KnowledgeBase, MatchResult, Outcome
from intents.text import LEXICON_DIR

__all__ = ["QUESTION_BANK", "Topic", "assign_topics", "distinctive", "load_question_bank", "topics_as_kb"]

QUESTION_BANK = LEXICON_DIR / "questions.yaml"


@dataclass(frozen=True)
class Topic:
    id: str
    about: str  # a few words naming the topic (营业时间)
    phrasings: tuple[str, ...]


@lru_cache(maxsize=4)
def load_question_bank(path: Path = QUESTION_BANK) -> tuple[Topic, ...]:
    """The bank's topics, in file order."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
        topics = tuple(Topic(str(entry["id"]), str(entry["about"]), tuple(str(p) for p in entry["phrasings"]))
                       for entry in entries)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise KnowledgeBaseError(f"{path}: not a question bank ({exc})") from exc
    if len({topic.id for topic in topics}) != len(topics) or not all(topic.phrasings for topic in topics):
        raise KnowledgeBaseError(f"{path}: topic ids must be unique and every topic needs phrasings")
    return topics


def topics_as_kb(topics: Iterable[Topic]) -> KnowledgeBase:
    """The bank as a KB of one FAQ per topic, so the FAQ matcher can read a phrasing as a topic."""
    return KnowledgeBase(tuple(Faq(id=topic.id, question=topic.phrasings[0], similar=topic.phrasings[1:],
                                   answer=topic.about) for topic in topics))


# A topic goes to an FAQ only when the bank reads it in at least this share of the FAQ's phrasings:
# one stray reading among three is more likely the bank's mistake than the FAQ's topic.
_SHARE = 1 / 3


def assign_topics(faqs: list[Faq], match: Callable[[str], MatchResult]) -> dict[str, frozenset[str]]:
    """FAQ id → the bank topics it is about, for the FAQs the bank can tell.

    Each phrasing of an FAQ (question included) that the bank answers with a topic is a vote for it;
    an FAQ may be about several topics (退换 covers both 退货 and 退货运费). A topic goes to the FAQ
    with the most votes for it; a tie gives it to none, since borrowing the same words would blur the
    very difference between the two FAQs (保质期 and 怎么保存, say).
    """
    votes: dict[str, dict[str, int]] = {}
    for faq in faqs:
        for phrasing in faq.phrasings():
            result = match(phrasing)
            if result.outcome is Outcome.ANSWER and result.best is not None:
                by_faq = votes.setdefault(result.best.faq.id, {})
                by_faq[faq.id] = by_faq.get(faq.id, 0) + 1
    chosen: dict[str, set[str]] = {}
    sizes = {faq.id: len(faq.phrasings()) for faq in faqs}
    for topic, by_faq in votes.items():
        ranked = sorted(by_faq.values(), reverse=True)
        owner = max(by_faq, key=by_faq.__getitem__)
        if (len(ranked) == 1 or ranked[0] > ranked[1]) and ranked[0] >= _SHARE * sizes[owner]:
            chosen.setdefault(owner, set()).add(topic)
    return {faq_id: frozenset(topics) for faq_id, topics in chosen.items()}


def distinctive(words: Mapping[str, Iterable[str]], *, at_most: int) -> dict[str, frozenset[str]]:
    """Per topic, those of its words that at most ``at_most`` topics use: the words that tell it apart.
    A word one customer used once counts too (开档, 没动静): the rarer wordings are the bank's point."""
    by_topic = {topic: frozenset(found) for topic, found in words.items()}
    topics_using: dict[str, int] = {}
    for found in by_topic.values():
        for word in found:
            topics_using[word] = topics_using.get(word, 0) + 1
    return {topic: frozenset(word for word in found if topics_using[word] <= at_most)
            for topic, found in by_topic.items()}
