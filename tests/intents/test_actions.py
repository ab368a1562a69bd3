"""Each dialogue action through a rasa_sdk Tracker, as Rasa (or the bot) runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Action

from intents.actions import FaqLookup, SizeChart, build_actions
from intents.actions.domain import HANDOFF_MENU_ID
from intents.actions.size import SizeChartError
from intents.kb_source import KnowledgeBaseSource
from tests.support import DEMO_KB
from tests.support.rasa import entity, run, tracker

ROOT = Path(__file__).parents[2]
DEMO_SIZE_CHART = ROOT / "chatshop" / "demo" / "size_chart.yaml"
DEMO_FAQS = {faq["id"]: faq for faq in yaml.safe_load(DEMO_KB.read_text(encoding="utf-8"))["faqs"]}
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def actions() -> dict[str, Action]:
    faqs = FaqLookup(KnowledgeBaseSource(DEMO_KB))
    return build_actions(faqs=faqs, size_chart=SizeChart.load(DEMO_SIZE_CHART), clock=lambda: NOW)


def test_answer_faq_answers_what_the_message_asks(actions: dict[str, Action]) -> None:
    events, said = run(actions["action_answer_faq"], tracker(DEMO_FAQS["shipping_time"]["question"]))
    assert events == []
    assert [m["text"] for m in said] == [DEMO_FAQS["shipping_time"]["answer"].strip()]


def test_answer_faq_answers_a_tapped_item(actions: dict[str, Action]) -> None:
    _, said = run(actions["action_answer_faq"], tracker("随便什么字", entities=[entity("faq_id", "return_policy")]))
    assert [m["text"] for m in said] == [DEMO_FAQS["return_policy"]["answer"].strip()]


def test_clarify_offers_the_top_candidates_as_a_menu(actions: dict[str, Action]) -> None:
    _, said = run(actions["action_clarify"], tracker("退"))
    menu = said[0]["custom"]["msgmenu"]
    assert 1 <= len(menu["list"]) <= 3
    assert all(item["id"] in DEMO_FAQS and item["content"] == DEMO_FAQS[item["id"]]["question"]
               for item in menu["list"])


def test_the_two_fallback_stages(actions: dict[str, Action]) -> None:
    _, rephrase = run(actions["action_ask_rephrase"], tracker("老板喜欢吃榴莲吗"))
    assert "换个说法" in rephrase[0]["text"]
    _, offer = run(actions["action_offer_human"], tracker("榴莲好吃吗"))
    assert [item["id"] for item in offer[0]["custom"]["msgmenu"]["list"]] == [HANDOFF_MENU_ID]


@pytest.mark.parametrize(("intent", "reason"), [("ask_human", "asked"), ("complaint", "complaint"),
                                                 ("nlu_fallback", "offered")])
def test_request_human_marks_the_conversation(actions: dict[str, Action], intent: str, reason: str) -> None:
    events, said = run(actions["action_request_human"], tracker("人工", intent=intent))
    assert {(e["name"], e["value"]) for e in events} == {
        ("handoff_requested_at", NOW.isoformat()), ("handoff_reason", reason)}
    assert "人工客服" in said[0]["text"]


def test_small_talk_answers_the_intent(actions: dict[str, Action]) -> None:
    _, said = run(actions["action_small_talk"], tracker("谢谢", intent="thanks"))
    assert "不客气" in said[0]["text"]


def test_size_form_validation_extracts_and_validates(actions: dict[str, Action]) -> None:
    validate = actions["validate_size_advice_form"]
    # entities fill both slots
    events, said = run(validate, tracker("165cm 50kg", intent="size_advice",
                                         entities=[entity("height", 165), entity("weight", 50)]))
    assert {e["name"]: e["value"] for e in events} == {"height": 165.0, "weight": 50.0}
    assert said == []
    # a bare number answers the slot that was asked for
    events, _ = run(validate, tracker("158", intent="nlu_fallback", slots={"requested_slot": "height"}))
    assert {e["name"]: e["value"] for e in events} == {"height": 158.0}
    events, _ = run(validate, tracker("一米六二", intent="nlu_fallback", slots={"requested_slot": "height"},
                                      entities=[entity("height", 162)]))
    assert {e["name"]: e["value"] for e in events} == {"height": 162.0}  # its digits are not read as a weight
    events, _ = run(validate, tracker("165 50", intent="nlu_fallback", slots={"requested_slot": "height"}))
    assert {e["name"]: e["value"] for e in events} == {"height": 165.0, "weight": 50.0}
    events, _ = run(validate, tracker("九十五斤", intent="nlu_fallback", slots={"requested_slot": "weight"}))
    assert {e["name"]: e["value"] for e in events} == {"weight": 47.5}
    # an implausible value is refused and asked again
    events, said = run(validate, tracker("5", intent="nlu_fallback", slots={"requested_slot": "height"}))
    assert {e["name"]: e["value"] for e in events} == {"height": None}
    assert "身高" in said[0]["text"]


def test_recommend_size_uses_the_chart_and_clears_the_form(actions: dict[str, Action]) -> None:
    events, said = run(actions["action_recommend_size"], tracker("", slots={"height": 163, "weight": 52}))
    assert "推荐您选 M 码" in said[0]["text"]
    assert {e["name"]: e["value"] for e in events} == {"size": "M", "height": None, "weight": None}


@pytest.mark.parametrize(
    ("height", "weight", "size", "between", "outside"),
    [(150, 40, "S", False, False), (165, 54, "M", False, False), (160, 60, "L", True, False),
     (190, 60, "XXL", False, True)],
)
def test_size_chart(height: float, weight: float, size: str, between: bool, outside: bool) -> None:
    advice = SizeChart.load(DEMO_SIZE_CHART).recommend(height, weight)
    assert (advice.size, advice.between, advice.outside) == (size, between, outside)


def test_a_broken_size_chart_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "chart.yaml"
    broken.write_text("sizes:\n  - {size: S, max_height_cm: tall}\n", encoding="utf-8")
    with pytest.raises(SizeChartError, match=r"sizes\[0\]"):
        SizeChart.load(broken)
