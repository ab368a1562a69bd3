"""Grouping unanswered questions: similar wordings together, largest group first."""

from __future__ import annotations

import pytest

from intents.gaps import cluster_questions
from intents.text import Tokeniser


@pytest.fixture(scope="module")
def tokeniser() -> Tokeniser:
    return Tokeniser()


def test_similar_wordings_group_together_largest_first(tokeniser: Tokeniser) -> None:
    # Given unanswered questions about two topics, one asked more often, with repeats and noise
    texts = [
        "你们卖宠物用品吗",
        "能寄到俄罗斯吗", "可以发俄罗斯吗", "俄罗斯能寄吗", "能寄到俄罗斯吗",
        "有没有男装", "你们有男装吗",
        "？？？", "   ",
    ]  # fmt: skip
    # When they are grouped
    groups = cluster_questions(texts, tokeniser)
    # Then each topic is one group, counted with repeats, the largest first
    assert [group.count for group in groups] == [4, 2, 1]
    assert groups[0].examples[0] == "能寄到俄罗斯吗"  # the most repeated wording leads
    assert set(groups[0].examples) == {"能寄到俄罗斯吗", "可以发俄罗斯吗", "俄罗斯能寄吗"}
    assert "俄罗斯" in groups[0].keywords
    assert set(groups[1].examples) == {"有没有男装", "你们有男装吗"}
    assert groups[2].as_dict() == {"count": 1, "keywords": groups[2].keywords, "examples": ["你们卖宠物用品吗"],
                                   "chosen": []}


def test_the_faqs_customers_tapped_are_counted_on_their_questions_group(tokeniser: Tokeniser) -> None:
    # Given questions that got a 猜你想问 menu, three of them followed by a tap
    texts = ["能寄到俄罗斯吗", "可以发俄罗斯吗", "俄罗斯能寄吗", "有没有男装"]
    choices = [("可以发俄罗斯吗", "shipping_abroad"), ("俄罗斯能寄吗 ", "shipping_abroad"),
               ("能寄到俄罗斯吗", "delivery_time"), ("一个没记下的问题", "size_chart")]
    # When they are grouped
    russia, menswear = cluster_questions(texts, tokeniser, choices=choices)
    # Then each group counts the taps of its own questions, most tapped first; a question not among
    # those grouped (outside the period) adds nothing
    assert russia.picked == [("shipping_abroad", 2), ("delivery_time", 1)]
    assert russia.as_dict()["chosen"] == [{"faq_id": "shipping_abroad", "times": 2},
                                          {"faq_id": "delivery_time", "times": 1}]
    assert menswear.picked == []


def test_different_questions_about_one_word_stay_apart(tokeniser: Tokeniser) -> None:
    groups = cluster_questions(["能寄到俄罗斯吗", "俄罗斯套娃有卖吗"], tokeniser)
    assert [group.count for group in groups] == [1, 1]


def test_a_stricter_similarity_makes_more_groups(tokeniser: Tokeniser) -> None:
    texts = ["能寄到俄罗斯吗", "可以发俄罗斯吗", "俄罗斯能寄吗"]
    assert len(cluster_questions(texts, tokeniser, similarity=0.4)) == 1
    # 俄罗斯能寄吗 says nothing 能寄到俄罗斯吗 does not, so it stays with it at any similarity
    assert len(cluster_questions(texts, tokeniser, similarity=0.95)) == 2


def test_no_questions_no_groups(tokeniser: Tokeniser) -> None:
    assert cluster_questions([], tokeniser) == []
