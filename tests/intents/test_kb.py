"""Knowledge base entries, validation with line numbers, match outcomes, and hot reload."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from intents import matcher as matcher_module
from intents.errors import IntentsError, KnowledgeBaseError
from intents.kb import Card, Faq, KnowledgeBase, MatchResult, Outcome, load_knowledge_base
from intents.kb_eval import load_cases
from intents.kb_source import KnowledgeBaseSource
from intents.matcher import FaqMatcher
from intents.text import Tokeniser, made_only_of, normalise

REPO = Path(__file__).resolve().parents[2]
DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
FIXTURES = REPO / "tests" / "fixtures" / "kb"


@pytest.fixture(scope="module")
def tokeniser() -> Tokeniser:
    return Tokeniser()


@pytest.fixture(scope="module")
def demo_kb() -> KnowledgeBase:
    return load_knowledge_base(DEMO_KB)


@pytest.fixture(scope="module")
def matcher(demo_kb: KnowledgeBase, tokeniser: Tokeniser) -> FaqMatcher:
    return FaqMatcher(demo_kb, tokeniser)


def _faq(faq_id: str, question: str, *, popular: bool = False, enabled: bool = True) -> Faq:
    return Faq(id=faq_id, question=question, similar=(), answer=f"answer to {faq_id}", popular=popular, enabled=enabled)


# --------------------------------------------------------------------------- the demo KB


def test_demo_kb_is_large_and_well_formed(demo_kb: KnowledgeBase) -> None:
    ids = [faq.id for faq in demo_kb.faqs]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)
    for faq in demo_kb.faqs:
        assert len(faq.similar) >= 3, faq.id
        assert len({normalise(p) for p in faq.phrasings()}) == len(faq.phrasings()), faq.id
        assert faq.answer or faq.card, faq.id
        assert len(faq.answer) <= 200, faq.id
        assert faq.category, faq.id
    assert 5 <= sum(faq.popular for faq in demo_kb.enabled) <= 8
    assert any(faq.card for faq in demo_kb.faqs), "the demo shows a card answer"
    assert any(not faq.enabled for faq in demo_kb.faqs), "the demo shows a disabled entry"


def test_no_phrasing_is_shared_between_faqs(demo_kb: KnowledgeBase) -> None:
    owner: dict[str, str] = {}
    for faq in demo_kb.faqs:
        for phrasing in faq.phrasings():
            key = normalise(phrasing)
            assert owner.setdefault(key, faq.id) == faq.id, f"{phrasing!r} in {owner[key]} and {faq.id}"


def test_every_question_answers_its_own_faq(demo_kb: KnowledgeBase, matcher: FaqMatcher) -> None:
    wrong = [
        (faq.id, result.outcome, result.best)
        for faq in demo_kb.enabled
        if (result := matcher.match(faq.question)).answer != faq
    ]
    assert not wrong


def test_most_stored_phrasings_answer_their_own_faq(demo_kb: KnowledgeBase, matcher: FaqMatcher) -> None:
    cases = [(p, faq) for faq in demo_kb.enabled for p in faq.similar]
    answered = [p for p, faq in cases if matcher.match(p).answer == faq]
    # A few short stored phrasings ("试色", "代付") are deliberately only suggested.
    assert len(answered) >= 0.95 * len(cases)


# --------------------------------------------------------------------------- the three outcomes


def test_a_close_question_is_answered(matcher: FaqMatcher) -> None:
    # Given a customer's wording of a stored question (traditional characters, no punctuation)
    result = matcher.match("運費要多少錢")
    # Then the matcher answers with that FAQ, sure of it
    assert result.outcome is Outcome.ANSWER
    assert result.answer is not None and result.answer.id == "shipping_fee"
    assert result.best is not None and result.best.score >= matcher.answer_threshold


def test_an_unsure_question_is_suggested_with_at_most_three_candidates(matcher: FaqMatcher) -> None:
    # Given a bare keyword that several FAQs are about
    result = matcher.match("口红")
    # Then the matcher offers candidates instead of answering
    assert result.outcome is Outcome.SUGGEST
    assert result.answer is None
    assert 1 <= len(result.candidates) <= 3
    assert len({c.faq.id for c in result.candidates}) == len(result.candidates)
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(s >= matcher.suggest_threshold for s in scores)
    assert {c.faq.category for c in result.candidates} == {"美妆"}


@pytest.mark.parametrize("text", ["在吗亲", "好的谢谢", "亲 请问一下"])
def test_a_message_of_stop_words_alone_is_never_answered(matcher: FaqMatcher, text: str) -> None:
    # Given a message with no content word, though its words line up with stored phrasings
    assert matcher.rank(text), "the words do appear in the KB"
    # Then there is no question to answer, nor a menu to offer
    assert matcher.match(text).outcome is Outcome.FALLBACK


@pytest.mark.parametrize("text", ["收到", "好的收到", "收到了谢谢", "收到咗 唔該", "下午好", "早"])
def test_a_greeting_or_an_acknowledgement_is_never_answered(matcher: FaqMatcher, text: str) -> None:
    # Given words that stored phrasings use to ask ("下午三点拍的", "收到货"), so they score high
    assert matcher.rank(text)[0].score >= matcher.suggest_threshold
    # Then they are not taken for a question
    assert matcher.match(text).outcome is Outcome.FALLBACK


@pytest.mark.parametrize(
    ("text", "faq_id"), [("收到货了 衣服有色差", "colour_difference"), ("好的 那什么时候发货", "shipping_time")]
)
def test_an_acknowledgement_with_a_question_is_answered(matcher: FaqMatcher, text: str, faq_id: str) -> None:
    result = matcher.match(text)
    assert (result.outcome, result.candidates[0].faq.id) == (Outcome.ANSWER, faq_id)


def test_no_stored_phrasing_reads_as_pleasantries(demo_kb: KnowledgeBase, tokeniser: Tokeniser) -> None:
    not_questions = matcher_module.FeatureExtractor(tokeniser).not_a_question
    assert not [p for faq in demo_kb.enabled for p in faq.phrasings() if made_only_of(normalise(p), not_questions)]


def test_the_shortlist_gives_the_answers_scoring_every_faq_gives(
    demo_kb: KnowledgeBase, tokeniser: Tokeniser, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The matcher scores only the FAQs that share the most of a message's rarer words; scoring every
    # FAQ must not change any outcome nor any answer, over every case set and every stored phrasing.
    texts = [p for faq in demo_kb.enabled for p in faq.phrasings()]
    for path in sorted((REPO / "tests" / "fixtures" / "nlu").glob("kb_*.yaml")):
        texts += [case.text for case in load_cases(path)]
    matcher = FaqMatcher(demo_kb, tokeniser)

    def decisions() -> list[tuple[Outcome, str | None]]:
        results = [matcher.match(text) for text in texts]
        return [(result.outcome, result.answer.id if result.answer else None) for result in results]

    shortlisted = decisions()
    # The shortlist's size is read on every match, so the same matcher now scores every FAQ.
    monkeypatch.setattr(matcher_module, "_SHORTLIST", len(demo_kb.faqs))
    exhaustive = decisions()
    changed = [text for text, a, b in zip(texts, shortlisted, exhaustive, strict=True) if a != b]
    assert len(texts) > 3000
    assert not changed


@pytest.mark.parametrize("text", ["今天天气怎么样", "讲个笑话", "", "？？？", "😂😂😂"])
def test_off_topic_or_empty_text_falls_back(matcher: FaqMatcher, text: str) -> None:
    result = matcher.match(text)
    assert result.outcome is Outcome.FALLBACK
    assert result.answer is None


def test_thresholds_decide_the_outcome(demo_kb: KnowledgeBase, tokeniser: Tokeniser) -> None:
    text = "运费要多少"
    strict = FaqMatcher(demo_kb, tokeniser, answer_threshold=1.0, suggest_threshold=0.99)
    loose = FaqMatcher(demo_kb, tokeniser, answer_threshold=0.1, suggest_threshold=0.05)
    middle = FaqMatcher(demo_kb, tokeniser, answer_threshold=1.0, suggest_threshold=0.1)
    assert strict.match(text).outcome is Outcome.FALLBACK
    assert loose.match(text).outcome is Outcome.ANSWER
    assert middle.match(text).outcome is Outcome.SUGGEST


def test_thresholds_must_be_ordered_fractions(demo_kb: KnowledgeBase, tokeniser: Tokeniser) -> None:
    with pytest.raises(ValueError):
        FaqMatcher(demo_kb, tokeniser, answer_threshold=1.5)
    with pytest.raises(ValueError):
        FaqMatcher(demo_kb, tokeniser, answer_threshold=0.3, suggest_threshold=0.5)


def test_exact_question_scores_one_and_scores_stay_in_range(demo_kb: KnowledgeBase, matcher: FaqMatcher) -> None:
    exact = matcher.match("什么时候发货？")
    assert exact.best is not None and exact.best.faq.id == "shipping_time"
    assert exact.best.score == pytest.approx(1.0)
    for faq in demo_kb.enabled:
        for candidate in matcher.match(faq.answer).candidates:  # long texts sharing words with many FAQs
            assert 0.0 < candidate.score <= 1.0


def test_disabled_faqs_are_never_matched_nor_offered(tokeniser: Tokeniser) -> None:
    kb = KnowledgeBase((_faq("fee", "运费多少钱", enabled=False), _faq("time", "什么时候发货", popular=True)))
    matcher = FaqMatcher(kb, tokeniser)
    result = matcher.match("运费多少钱")
    assert all(c.faq.id != "fee" for c in result.candidates)
    assert result.outcome is Outcome.FALLBACK
    assert kb.by_id("fee") is None
    assert [faq.id for faq in kb.popular(5)] == ["time"]
    assert [faq.id for faq in kb.faqs] == ["fee", "time"]  # still kept, for export


def test_empty_knowledge_base_falls_back(tokeniser: Tokeniser) -> None:
    result = FaqMatcher(KnowledgeBase(()), tokeniser).match("什么时候发货")
    assert result == MatchResult(Outcome.FALLBACK, ())


def test_popular_puts_popular_first_then_file_order() -> None:
    kb = KnowledgeBase(
        (_faq("a", "问题一"), _faq("b", "问题二", popular=True), _faq("c", "问题三"), _faq("d", "问题四", popular=True))
    )
    assert [faq.id for faq in kb.popular(3)] == ["b", "d", "a"]
    assert [faq.id for faq in kb.popular(10)] == ["b", "d", "a", "c"]
    assert kb.popular(0) == []


def test_by_id(demo_kb: KnowledgeBase) -> None:
    faq = demo_kb.by_id("shipping_fee")
    assert faq is not None and "包邮" in faq.answer
    assert demo_kb.by_id("no_such_faq") is None


# --------------------------------------------------------------------------- load errors


def test_error_hierarchy() -> None:
    assert issubclass(KnowledgeBaseError, IntentsError)
    assert KnowledgeBaseError.code == "kb_invalid"
    assert IntentsError.code


@pytest.mark.parametrize(
    ("fixture", "fragments"),
    [
        ("bad_yaml.yaml", ["invalid YAML", "line"]),
        ("no_faqs.yaml", ["missing top-level 'faqs' list"]),
        ("missing_question.yaml", ["line 6: faqs[1]", "id 'shipping_fee'", "missing or empty 'question'"]),
        ("empty_answer.yaml", ["faqs[1]", "id 'shipping_fee'", "missing or empty 'answer'"]),
        ("missing_id.yaml", ["faqs[1]", "no id", "missing or empty 'id'"]),
        ("duplicate_id.yaml", ["faqs[2]", "id 'shipping_time'", "duplicate id", "already used at line"]),
        ("similar_not_list.yaml", ["faqs[1]", "id 'shipping_fee'", "'similar' must be a list of non-empty strings"]),
        ("similar_not_strings.yaml", ["faqs[1]", "id 'shipping_fee'", "'similar' must be a list"]),
        ("unknown_key.yaml", ["faqs[1]", "id 'shipping_fee'", "unknown key(s) similiar"]),
        ("bad_id.yaml", ["faqs[1]", "id 'Shipping-Fee'", "snake_case"]),
        ("card_missing_page.yaml", ["faqs[0]", "id 'new_arrivals'", "card: missing or empty 'pagepath'"]),
        ("enabled_not_flag.yaml", ["faqs[0]", "'enabled' must be true or false"]),
    ],
)
def test_invalid_knowledge_base_names_the_problem(fixture: str, fragments: list[str]) -> None:
    path = FIXTURES / fixture
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(KnowledgeBaseError, match="not found") as caught:
        load_knowledge_base(path)
    assert str(path) in str(caught.value)


def test_entries_must_be_mappings(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text("faqs:\n  - just a string\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=r"faqs\[0\].*mapping"):
        load_knowledge_base(path)


def test_optional_fields_default_and_strings_are_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text("faqs:\n  - id: a\n    question: ' 问题 '\n    answer: |\n      回答\n", encoding="utf-8")
    faq = load_knowledge_base(path).faqs[0]
    assert faq == Faq(id="a", question="问题", similar=(), answer="回答", category="", enabled=True, popular=False)


def test_a_card_can_be_the_whole_answer(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_text(
        "faqs:\n  - id: a\n    question: 新品\n"
        "    card: {title: 新品, pagepath: pages/new/index, thumb_media_id: m1}\n",
        encoding="utf-8",
    )
    faq = load_knowledge_base(path).faqs[0]
    assert faq.answer == "" and faq.card == Card(title="新品", pagepath="pages/new/index", thumb_media_id="m1")


# --------------------------------------------------------------------------- hot reload


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write_kb(path: Path, faqs: dict[str, str], *, mtime_step: int = 0) -> None:
    lines = ["faqs:"]
    for faq_id, question in faqs.items():
        lines += [f"  - id: {faq_id}", f"    question: {question}", f"    answer: {faq_id} answer"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _bump_mtime(path, mtime_step)


def _bump_mtime(path: Path, step: int) -> None:
    # Rewrites within one filesystem timestamp tick would look unchanged; move mtime explicitly.
    if step:
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + step * 1_000_000_000))


@pytest.fixture
def kb_file(tmp_path: Path) -> Path:
    path = tmp_path / "kb.yaml"
    _write_kb(path, {"shipping_time": "什么时候发货"})
    return path


def test_source_serves_the_loaded_kb(kb_file: Path, tokeniser: Tokeniser) -> None:
    source = KnowledgeBaseSource(kb_file, 0.4, tokeniser=tokeniser, background=False, clock=FakeClock())
    assert [faq.id for faq in source.knowledge_base().faqs] == ["shipping_time"]
    assert source.matcher().answer_threshold == 0.4
    assert source.matcher() is source.matcher()  # not rebuilt while the file is unchanged


def test_source_picks_up_an_edit_after_the_check_interval(kb_file: Path, tokeniser: Tokeniser) -> None:
    clock = FakeClock()
    source = KnowledgeBaseSource(kb_file, 0.4, tokeniser=tokeniser, background=False, clock=clock)
    assert source.matcher().match("运费多少钱").answer is None

    _write_kb(kb_file, {"shipping_time": "什么时候发货", "shipping_fee": "运费多少钱"}, mtime_step=5)
    clock.now += 0.5
    assert len(source.knowledge_base().faqs) == 1  # checked at most once a second

    clock.now += 0.5
    assert [faq.id for faq in source.knowledge_base().faqs] == ["shipping_time", "shipping_fee"]
    found = source.matcher().match("运费多少钱").answer
    assert found is not None and found.id == "shipping_fee"


def test_source_keeps_the_last_good_kb_on_a_broken_edit(
    kb_file: Path, caplog: pytest.LogCaptureFixture, tokeniser: Tokeniser
) -> None:
    clock = FakeClock()
    source = KnowledgeBaseSource(kb_file, 0.4, tokeniser=tokeniser, background=False, clock=clock)
    good = source.knowledge_base()

    kb_file.write_text("faqs:\n  - id: shipping_time\n    question: [unclosed\n", encoding="utf-8")
    _bump_mtime(kb_file, 5)
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="intents.kb"):
        assert source.knowledge_base() is good
        assert source.matcher().match("什么时候发货").answer is not None
    assert len(caplog.records) == 1
    assert str(kb_file) in caplog.text and "invalid YAML" in caplog.text

    caplog.clear()
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="intents.kb"):
        assert source.knowledge_base() is good
    assert not caplog.records  # the same broken file is reported once, not every second

    _write_kb(kb_file, {"shipping_fee": "运费多少钱"}, mtime_step=10)
    clock.now += 1
    assert [faq.id for faq in source.knowledge_base().faqs] == ["shipping_fee"]


def test_source_keeps_the_last_good_kb_when_the_file_disappears(
    kb_file: Path, caplog: pytest.LogCaptureFixture, tokeniser: Tokeniser
) -> None:
    clock = FakeClock()
    source = KnowledgeBaseSource(kb_file, 0.4, tokeniser=tokeniser, background=False, clock=clock)
    good = source.knowledge_base()
    kb_file.unlink()
    clock.now += 1
    with caplog.at_level(logging.ERROR, logger="intents.kb"):
        assert source.knowledge_base() is good
    assert "disappeared" in caplog.text


def test_a_background_reload_serves_the_old_kb_until_the_new_one_is_ready(kb_file: Path, tokeniser: Tokeniser) -> None:
    # Given a source that reloads on a thread of its own
    clock = FakeClock()
    source = KnowledgeBaseSource(kb_file, 0.4, tokeniser=tokeniser, clock=clock)
    old = source.knowledge_base()
    # When the file changes and the next check notices it
    _write_kb(kb_file, {"shipping_time": "什么时候发货", "shipping_fee": "运费多少钱"}, mtime_step=5)
    clock.now += 1
    noticed = source.knowledge_base()
    # Then the message that noticed it is answered from a complete KB, old or new
    assert noticed is old or len(noticed.faqs) == 2
    # And the new KB is served once indexed (later checks do not start a second reload meanwhile)
    deadline = time.monotonic() + 10
    while len(source.knowledge_base().faqs) != 2 and time.monotonic() < deadline:
        clock.now += 1
        time.sleep(0.01)
    found = source.matcher().match("运费多少钱").answer
    assert found is not None and found.id == "shipping_fee"


def test_source_refuses_to_start_without_a_valid_kb(tmp_path: Path, tokeniser: Tokeniser) -> None:
    with pytest.raises(KnowledgeBaseError, match="not found"):
        KnowledgeBaseSource(tmp_path / "missing.yaml", 0.4, tokeniser=tokeniser)
    with pytest.raises(KnowledgeBaseError, match="duplicate id"):
        KnowledgeBaseSource(FIXTURES / "duplicate_id.yaml", 0.4, tokeniser=tokeniser)
