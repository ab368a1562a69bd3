"""Homophone typos of the KB's words are put right before matching (intents/typos.py)."""

from __future__ import annotations

import pytest

from intents.kb import Faq, KnowledgeBase, Outcome
from intents.matcher import FaqMatcher
from intents.text import Tokeniser, normalise
from intents.typos import HomophoneCorrector

VOCABULARY = ["发货", "快递", "退货", "地址", "色差", "小样", "卖完", "四点"]


@pytest.fixture(scope="module")
def corrector() -> HomophoneCorrector:
    return HomophoneCorrector(VOCABULARY)


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["今天", "能", "发", "或", "吗"], ["今天", "能", "发货", "吗"]),  # 或 huo → 货 huo
        (["我", "的", "快", "第", "到", "哪", "了"], ["我", "的", "快递", "到", "哪", "了"]),
        (["推", "货", "流程"], ["退货", "流程"]),
        (["收货", "地", "指", "写错", "了"], ["收货", "地址", "写错", "了"]),  # zhi and zi fold together
        (["有", "小羊", "送", "吗"], ["有", "小样", "送", "吗"]),  # a real word, but not the shop's
    ],
)
def test_a_homophone_typo_of_a_kb_word_is_put_right(
    corrector: HomophoneCorrector, pieces: list[str], expected: list[str]
) -> None:
    assert corrector.correct(pieces) == expected


@pytest.mark.parametrize(
    "pieces",
    [
        ["十点", "发"],  # numbers are meant as typed, however alike they sound (shi / si)
        ["能", "发", "国外"],  # 发国 would cut 国外 in two: only whole pieces are replaced
        ["快递", "到", "了"],  # already the KB's word
        ["地", "图"],  # one character away from 地址, but it does not sound like it
    ],
)
def test_what_is_not_a_typo_is_left_alone(corrector: HomophoneCorrector, pieces: list[str]) -> None:
    assert corrector.correct(pieces) == pieces


def test_a_span_with_a_word_meant_as_it_is_is_not_changed(corrector: HomophoneCorrector) -> None:
    # Given 吗 is a stop word the caller wants kept
    keep = {"吗"}.__contains__
    # Then 发或 is still put right but nothing that spans 吗 is
    assert corrector.correct(["发", "或", "吗"], keep=keep) == ["发货", "吗"]
    assert corrector.correct(["补", "吗"], keep=keep) == ["补", "吗"]


def test_a_span_meant_as_typed_is_not_changed(corrector: HomophoneCorrector) -> None:
    # Given the caller says 小羊 is meant as typed beside 小样
    def as_typed(span: str, word: str) -> bool:
        return (span, word) == ("小羊", "小样")

    # Then it stays, and a typo the rule does not hold for is still put right
    assert corrector.correct(["有", "小羊", "吗"], as_typed=as_typed) == ["有", "小羊", "吗"]
    assert corrector.correct(["推", "货"], as_typed=as_typed) == ["退货"]


def test_two_kb_words_that_sound_alike_leave_the_typo_alone() -> None:
    # 试色 and 视色 both sound like 是色 and differ from it by one character: no telling which was meant.
    corrector = HomophoneCorrector(["试色", "视色"])
    assert corrector.correct(["是", "色"]) == ["是", "色"]


def test_only_chinese_words_of_two_to_four_characters_are_used() -> None:
    corrector = HomophoneCorrector(["货", "ok", "发货", "七天无理由退"])
    assert len(corrector) == 1


def _sparse_kb() -> KnowledgeBase:
    return KnowledgeBase((
        Faq(id="shipping_time", question="什么时候发货", similar=("拍了多久寄出",),
            answer="16点前付款当天发出。"),
        Faq(id="return_how_to", question="怎么申请退货", similar=("退货怎么操作",),
            answer="在订单页点申请售后，填写原因后寄回。"),
        Faq(id="colour_difference", question="有色差吗", similar=("实物和图片颜色一样吗",),
            answer="图片为实拍，不同屏幕可能略有差别。"),
    ))


def test_the_matcher_answers_a_message_whose_only_topic_word_is_misspelt() -> None:
    # Given a store's KB of a question and one phrasing per FAQ
    matcher = FaqMatcher(_sparse_kb(), Tokeniser())
    # When the customer's input method picks the wrong character of the right sound
    for text, faq_id in (("推货流程是啥", "return_how_to"), ("有木有色叉", "colour_difference")):
        result = matcher.match(text)
        # Then the FAQ the typo's word belongs to comes first
        assert result.candidates[0].faq.id == faq_id, text


def test_the_kb_texts_themselves_are_not_corrected() -> None:
    # The KB's own words are its vocabulary: reading them must not change them.
    matcher = FaqMatcher(_sparse_kb(), Tokeniser())
    extractor = matcher._extract.__self__  # type: ignore[attr-defined]
    for faq in _sparse_kb().faqs:
        for phrasing in faq.phrasings():
            extractor.words(phrasing)
            assert extractor._corrected[normalise(phrasing)] == normalise(phrasing)
    assert matcher.match("什么时候发货").outcome is Outcome.ANSWER


def test_a_real_word_as_common_as_the_kb_word_it_sounds_like_is_meant_as_typed() -> None:
    # Given a KB (a print shop's) with 打样, and 打烊 (closing time), a word jieba counts as often
    kb = KnowledgeBase((
        Faq(id="proof", question="打样多少钱", similar=("可以先打样吗",), answer="打样每款50元，大货下单退回。"),
        Faq(id="hours", question="几点开门", similar=("营业时间是几点",), answer="早上9点到晚上8点。"),
    ))
    matcher = FaqMatcher(kb, Tokeniser(), question_bank=False)
    extractor = matcher._extract.__self__  # type: ignore[attr-defined]
    # When a customer asks when the shop closes
    words = extractor.words("你们几点打烊")
    # Then 打烊 stays 打烊 and the message is not answered with the proofing FAQ
    assert "打烊" in words and "打样" not in words
    result = matcher.match("你们几点打烊")
    assert not (result.outcome is Outcome.ANSWER and result.candidates[0].faq.id == "proof")
    # While a slip that is no word at all still becomes the KB's word
    assert "打样" in extractor.words("可以先打羊吗")
