"""The question bank: which FAQs it reads as which topics, what they borrow, and what that changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.bank import assign_topics, distinctive, load_question_bank, topics_as_kb
from intents.errors import KnowledgeBaseError
from intents.kb import Candidate, Faq, KnowledgeBase, MatchResult, Outcome, load_knowledge_base
from intents.matcher import FaqMatcher
from intents.text import Tokeniser

DEMO_KB = Path(__file__).resolve().parents[2] / "chatshop" / "demo" / "kb.yaml"

# A store's day-one KB: a question and two phrasings per FAQ.
STORE = KnowledgeBase((
    Faq("hours", "档口几点开门？", ("营业时间是几点", "晚上几点关门"), "每天9:00–18:00，春节休息。"),
    Faq("fee", "运费怎么算？", ("包邮吗", "邮费多少"), "满99元包邮，不满收8元。"),
    Faq("refund", "退款多久到账？", ("钱什么时候退回来", "退款要等几天"), "审核通过后1–3个工作日原路退回。"),
    Faq("brewing", "生普怎么冲泡？", ("普洱泡几秒", "洗茶要洗几遍"), "100度沸水，洗茶一次，前五泡10秒出汤。"),
))


@pytest.fixture(scope="module")
def tokeniser() -> Tokeniser:
    return Tokeniser()


@pytest.fixture(scope="module")
def store(tokeniser: Tokeniser) -> FaqMatcher:
    return FaqMatcher(STORE, tokeniser)


def test_the_shipped_bank_holds_many_wordings_of_each_topic() -> None:
    topics = load_question_bank()
    assert len(topics) == 52
    assert len({topic.id for topic in topics}) == len(topics)
    assert all(len(topic.phrasings) >= 20 and topic.about for topic in topics)
    hours = topics_as_kb(topics).by_id("store_hours")
    assert hours is not None and len(hours.phrasings()) >= 20


def test_a_broken_bank_file_is_refused_with_its_name(tmp_path: Path) -> None:
    broken = tmp_path / "questions.yaml"
    broken.write_text("topics:\n  - id: x\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"questions\.yaml"):
        load_question_bank(broken)
    duplicated = tmp_path / "twice.yaml"
    duplicated.write_text("topics:\n" + "  - {id: a, about: A, phrasings: [x]}\n" * 2, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="unique"):
        load_question_bank(duplicated)


def test_the_bank_reads_a_stores_faqs_as_its_topics(store: FaqMatcher) -> None:
    # Then the FAQs about common questions get the bank's topics, and the tea-brewing one gets none
    # (or one about how to use a product, never one about shipping or money)
    assert store.bank_read
    assert store.topics_of("hours") == {"store_hours"}
    assert store.topics_of("fee") == {"shipping_fee"}
    assert store.topics_of("refund") == {"refund_timing"}
    assert not store.topics_of("brewing") & {"store_hours", "shipping_fee", "refund_timing"}


def test_a_topic_two_faqs_claim_equally_goes_to_neither() -> None:
    # Given two FAQs the bank reads as the same topic, once each
    faqs = [Faq("a", "几点开门", (), ""), Faq("b", "几点关门", (), "")]
    said = {"几点开门": "store_hours", "几点关门": "store_hours"}

    def match(text: str) -> MatchResult:
        topic = Faq(said[text], text, (), "")
        return MatchResult(Outcome.ANSWER, (Candidate(topic, 0.9),))

    # Then neither borrows its words: they would blur the very difference between the two
    assert assign_topics(faqs, match) == {}
    # and with a second phrasing read the same way, the FAQ with more votes gets it
    faqs[0] = Faq("a", "几点开门", ("几点关门",), "")
    assert assign_topics(faqs, match) == {"a": frozenset({"store_hours"})}


def test_distinctive_words_are_those_few_topics_use() -> None:
    words = {"t1": {"w:打烊", "w:时间"}, "t2": {"w:运费", "w:时间"}, "t3": {"w:退款", "w:时间"}}
    found = distinctive(words, at_most=2)
    assert found == {"t1": {"w:打烊"}, "t2": {"w:运费"}, "t3": {"w:退款"}}
    assert distinctive(words, at_most=3)["t1"] == {"w:打烊", "w:时间"}


def test_borrowed_words_bring_a_customers_own_words_to_the_faq(tokeniser: Tokeniser, store: FaqMatcher) -> None:
    # Given the same KB with and without the bank
    alone = FaqMatcher(STORE, tokeniser, question_bank=False)
    # When customers ask about the fee in words none of its phrasings or its answer use
    for text in ("买两件免不免运", "有没有免运门槛"):
        # Then only with the bank is the fee FAQ answered
        assert alone.match(text).outcome is Outcome.FALLBACK, text
        answered = store.match(text)
        assert answered.outcome is Outcome.ANSWER and answered.answer is not None, text
        assert answered.answer.id == "fee", text
    # and words the FAQ shares with the message score higher with the topic's words beside them
    for text, faq_id in (("春节开档吗", "hours"), ("钱退回到我卡上没有", "refund")):
        with_bank, without = store.match(text), alone.match(text)
        assert with_bank.answer is not None and with_bank.answer.id == faq_id, text
        assert with_bank.best is not None and without.best is not None and with_bank.best.score > without.best.score


def test_the_bank_turns_a_wrong_answer_into_a_question(tokeniser: Tokeniser, store: FaqMatcher) -> None:
    # 另付钱 shares 钱 with the refund FAQ's "钱什么时候退回来": alone, the matcher answers with it
    text = "寄到我这要另付钱吗"
    wrong = FaqMatcher(STORE, tokeniser, question_bank=False).match(text)
    assert wrong.outcome is Outcome.ANSWER and wrong.answer is not None and wrong.answer.id == "refund"
    # with the bank the fee FAQ (另 is one of its topic's words) comes close, and the bot asks instead
    asked = store.match(text)
    assert asked.outcome is Outcome.SUGGEST
    assert {candidate.faq.id for candidate in asked.candidates} >= {"refund", "fee"}


def test_a_question_the_store_does_not_answer_stays_unanswered(store: FaqMatcher) -> None:
    # The bank knows invoices, but this store has no FAQ about them: nothing is borrowed for them
    for text in ("能开增值税专用发票吗", "你们卖奶茶吗", "今天天气怎么样"):
        assert store.match(text).outcome is not Outcome.ANSWER, text


def test_a_dense_kb_borrows_nothing(tokeniser: Tokeniser) -> None:
    # The demo KB's FAQs hold about 30 phrasings each: their own words are enough
    dense = FaqMatcher(load_knowledge_base(DEMO_KB), tokeniser)
    assert not dense.bank_read
    assert not any(dense.topics_of(faq.id) for faq in load_knowledge_base(DEMO_KB).enabled)


def test_a_kb_of_thousands_of_faqs_is_not_read(tokeniser: Tokeniser) -> None:
    # Product-by-product FAQs: each topic would be claimed by many, and reading them costs seconds
    many = KnowledgeBase(tuple(Faq(f"p{n}", f"{n}号商品几点发货", (), "下午四点前下单当天发") for n in range(1001)))
    matcher = FaqMatcher(many, tokeniser)
    assert not matcher.bank_read and not matcher.topics_of("p0")


def test_a_message_the_bank_reads_as_the_best_faqs_topic_is_answered_below_the_threshold(
    tokeniser: Tokeniser,
) -> None:
    # Given the demo KB cut to its question and one phrasing per FAQ
    kb = load_knowledge_base(DEMO_KB.parents[2] / "tests" / "fixtures" / "kb" / "demo_sparse_1.yaml")
    matcher = FaqMatcher(kb, tokeniser)
    # When a customer asks to have her husband pay (a development case, not a held-out one)
    result = matcher.match("我想让我老公帮我付 咋弄")
    # Then the best FAQ scores below the answer threshold, but the bank reads the message as its topic
    assert result.best is not None and result.best.faq.id == "pay_on_behalf"
    assert result.best.score < matcher.answer_threshold
    assert matcher.topics_of("pay_on_behalf") == {"pay_on_behalf"}
    # and the two readings agreeing, it is answered
    assert result.outcome is Outcome.ANSWER
