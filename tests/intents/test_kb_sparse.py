"""The FAQ matcher on a store's own sparse KB: calibration, answer words, evidence, and the frozen
evaluation sets the README's figures come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.kb import Faq, KnowledgeBase, Outcome, load_knowledge_base
from intents.kb_eval import load_cases
from intents.matcher import FaqMatcher, calibrated_score, margin_needed, standing
from intents.text import Tokeniser

REPO = Path(__file__).resolve().parents[2]
DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
KBS = REPO / "tests" / "fixtures" / "kb"
CASES = REPO / "tests" / "fixtures" / "nlu"
STORES = ("tea", "produce", "wholesale")


@pytest.fixture(scope="module")
def tokeniser() -> Tokeniser:
    return Tokeniser()


@pytest.fixture(scope="module")
def tea(tokeniser: Tokeniser) -> FaqMatcher:
    return FaqMatcher(load_knowledge_base(KBS / "store_tea.yaml"), tokeniser)


def test_a_sparse_kb_is_calibrated_below_the_dense_demo(tea: FaqMatcher, tokeniser: Tokeniser) -> None:
    # Given the demo KB (~30 phrasings per FAQ) and a store's own (two per FAQ)
    dense = FaqMatcher(load_knowledge_base(DEMO_KB), tokeniser)
    # Then questions about other FAQs reach lower raw scores in the sparse one, and the matcher knows it
    assert tea.impostor_level < dense.impostor_level - 0.1
    assert dense.impostor_level == pytest.approx(0.42, abs=0.02), "the level the default thresholds were chosen at"


def test_calibration_maps_the_impostor_level_to_the_reference_and_keeps_order() -> None:
    for level in (0.2, 0.3, 0.42, 0.6):
        assert calibrated_score(0.0, level) == 0.0
        assert calibrated_score(level, level) == pytest.approx(0.42)
        assert calibrated_score(1.0, level) == pytest.approx(1.0)
        scores = [calibrated_score(raw / 20, level) for raw in range(21)]
        assert scores == sorted(scores)
    assert calibrated_score(0.3, 0.42) == pytest.approx(0.3), "the reference KB's scores are left as they are"


def test_a_faq_with_fewer_phrasings_needs_a_wider_lead() -> None:
    leads = [margin_needed(count) for count in (1, 2, 3, 10, 30)]
    assert leads == sorted(leads, reverse=True)
    assert leads[-1] < 0.04 < 0.1 < leads[0]


@pytest.mark.parametrize(
    ("text", "faq_id"),
    [("茶盘还有吗", "teaware"), ("生普和熟普哪个好", "pu_er_raw_ripe"), ("这茶饼是什么年份的", "vintage")],
)
def test_the_sparse_kb_answers_what_it_ranks_clearly_first(tea: FaqMatcher, text: str, faq_id: str) -> None:
    result = tea.match(text)
    assert result.outcome is Outcome.ANSWER
    assert result.answer is not None and result.answer.id == faq_id


def test_the_sparse_kb_does_not_answer_another_topic(tea: FaqMatcher) -> None:
    assert tea.match("你们卖不卖奶茶").outcome is not Outcome.ANSWER
    assert tea.match("帮我订一张去北京的机票").outcome is not Outcome.ANSWER


def test_words_of_the_answer_find_the_faq(tokeniser: Tokeniser) -> None:
    # Given FAQs whose phrasings do not say how to get to the shop, but one answer does
    kb = KnowledgeBase((
        Faq("address", "店在哪里？", ("实体店地址",), "越秀区北京路168号，地铁公园前站步行5分钟。"),
        Faq("hours", "几点开门？", ("营业时间",), "每天10:00–22:00营业。"),
        Faq("fee", "运费多少？", ("包邮吗",), "满99元包邮，不满收8元。"),
    ))
    matcher = FaqMatcher(kb, tokeniser)
    # Then a question in the answer's words ranks that FAQ first
    ranked = matcher.rank("坐地铁在哪个站下")
    assert ranked and ranked[0].faq.id == "address"


def test_a_bare_keyword_several_faqs_share_is_not_answered(tokeniser: Tokeniser) -> None:
    # However fully a one-word message is covered, two FAQs about it are equally close
    kb = KnowledgeBase((
        Faq("lipstick_shade", "口红有试色吗？", (), "详情页有试色图。"),
        Faq("lipstick_expiry", "口红保质期多久？", (), "未开封三年。"),
    ))
    assert FaqMatcher(kb, tokeniser).match("口红").outcome is not Outcome.ANSWER


# --------------------------------------------------------------------------- the frozen evaluation sets


@pytest.mark.parametrize("store", STORES)
def test_each_store_kb_is_a_sparse_kb_of_20_to_40_faqs_with_two_phrasings(store: str) -> None:
    kb = load_knowledge_base(KBS / f"store_{store}.yaml")
    assert 20 <= len(kb.faqs) <= 40
    assert all(len(faq.similar) == 2 for faq in kb.faqs)


@pytest.mark.parametrize("store", STORES)
def test_each_store_has_80_held_out_cases_a_fifth_not_to_be_answered(store: str) -> None:
    kb = load_knowledge_base(KBS / f"store_{store}.yaml")
    cases = load_cases(CASES / f"store_{store}_heldout.yaml", known_ids=[faq.id for faq in kb.faqs])
    assert len(cases) >= 80
    assert sum(case.expect is None for case in cases) >= 0.2 * len(cases)
    stored = {phrasing for faq in kb.faqs for phrasing in faq.phrasings()}
    assert not [case.text for case in cases if case.text in stored], "held-out cases are not the KB's phrasings"
    assert {case.expect for case in cases if case.expect} == {faq.id for faq in kb.faqs}, "every FAQ is asked about"


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_the_sparse_demo_kbs_keep_the_question_and_the_first_phrasings(kept: int) -> None:
    demo = load_knowledge_base(DEMO_KB)
    sparse = load_knowledge_base(KBS / f"demo_sparse_{kept}.yaml")
    assert [faq.id for faq in sparse.faqs] == [faq.id for faq in demo.faqs]
    for thin, full in zip(sparse.faqs, demo.faqs, strict=True):
        assert (thin.question, thin.similar, thin.answer, thin.enabled) == (
            full.question, full.similar[:kept], full.answer, full.enabled)


# --------------------------------------------------------------------------- general-language weights


def test_jieba_dictionary_tells_common_words_from_topic_words(tokeniser: Tokeniser) -> None:
    common, topic = tokeniser.general_idf("看"), tokeniser.general_idf("积分")
    assert common is not None and topic is not None and common < topic - 3
    assert tokeniser.general_idf("包邮") is None, "a word jieba's dictionary lacks"
    # A catalog word the tokeniser keeps whole keeps the dictionary's count, not the one it was given
    assert Tokeniser(user_words=["尺码"]).general_idf("尺码") == pytest.approx(tokeniser.general_idf("尺码"))


def test_how_words_do_not_outweigh_the_topic_in_a_sparse_kb(tokeniser: Tokeniser) -> None:
    # Given the demo KB's question and two phrasings per FAQ, where 尺码表在哪里看 is one of them
    matcher = FaqMatcher(load_knowledge_base(KBS / "demo_sparse_2.yaml"), tokeniser)
    # Then asking where to see one's points is about points, not about where to see the size chart
    assert matcher.rank("积分在哪里看")[0].faq.id == "membership_points"


def test_a_sparse_faq_scoring_high_is_answered_though_it_shares_one_word(tokeniser: Tokeniser) -> None:
    # Given a store's KB of a few FAQs with two phrasings each
    kb = KnowledgeBase((
        Faq("invoice", "可以开发票吗？", ("发票怎么开", "要发票"), "下单时填写抬头，发货后7天内开具电子发票。"),
        Faq("fee", "运费多少？", ("包邮吗", "邮费怎么算"), "满99元包邮，不满收8元。"),
        Faq("hours", "几点开门？", ("营业时间", "晚上几点关门"), "每天10:00–22:00营业。"),
        Faq("address", "店在哪里？", ("实体店地址", "门店在哪"), "越秀区北京路168号，地铁公园前站步行5分钟。"),
    ))
    matcher = FaqMatcher(kb, tokeniser)
    # Then a message sharing only 发票 with the FAQ's phrasings, the rest in its answer, is answered
    answered = matcher.match("发票抬头能改吗")
    assert answered.outcome is Outcome.ANSWER and answered.answer is not None and answered.answer.id == "invoice"
    # and 开票 is taken for the FAQ's own 发票 said another way
    said_otherwise = matcher.match("能开票吗")
    assert said_otherwise.answer is not None and said_otherwise.answer.id == "invoice"
    # while a message about something else scores lower and is not answered
    assert matcher.match("你们卖奶茶吗").outcome is not Outcome.ANSWER


def test_standing_is_how_far_the_best_lies_above_the_rest_of_the_shortlist() -> None:
    # The others of a shortlist of 16, the FAQs not shortlisted counting as 0
    rest = [0.1, 0.1] + [0.0] * 13
    mean = sum(rest) / len(rest)
    spread = (sum((score - mean) ** 2 for score in rest) / len(rest)) ** 0.5
    assert standing([0.5, 0.1, 0.1]) == pytest.approx((0.5 - mean) / spread)
    assert standing([0.5, 0.45, 0.4, 0.42]) < standing([0.5, 0.1, 0.1]), "close runners-up lower it"
    assert standing([]) == 0.0


def test_a_thin_faq_standing_far_above_the_rest_is_answered_below_the_threshold(tokeniser: Tokeniser) -> None:
    # Given the demo KB cut to its question and one phrasing per FAQ, without the question bank
    kb = load_knowledge_base(KBS / "demo_sparse_1.yaml")
    matcher = FaqMatcher(kb, tokeniser, question_bank=False)
    # When a customer asks in Cantonese to merge two orders (a development case, not a held-out one)
    text = "兩張單可以合埋一齊寄嗎"
    result = matcher.match(text)
    # Then the FAQ scores below the answer threshold but more than twice the runner-up, far above the
    # rest of the shortlist, and is answered
    assert result.best is not None and result.best.faq.id == "merge_orders"
    assert matcher.suggest_threshold <= result.best.score < matcher.answer_threshold
    assert result.best.score >= 2 * result.candidates[1].score
    assert result.outcome is Outcome.ANSWER
