"""Size advice questions a height or weight no adult shopper has before giving any size, through the
form's actions as Rasa (or the bot) runs them, with entities from the real extractor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action

from intents.actions import FaqLookup, SizeChart, build_actions
from intents.actions.plausibility import JIN, KG, MeasureCheck, find_doubt
from intents.kb_source import KnowledgeBaseSource
from intents.nlu.entities import EntityExtractor
from tests.support import DEMO_KB
from tests.support.rasa import run, tracker

DEMO_SIZE_CHART = Path(__file__).parents[2] / "chatshop" / "demo" / "size_chart.yaml"


@pytest.fixture(scope="module")
def actions() -> dict[str, Action]:
    return build_actions(faqs=FaqLookup(KnowledgeBaseSource(DEMO_KB)), size_chart=SizeChart.load(DEMO_SIZE_CHART))


def turn(actions: dict[str, Action], text: str, slots: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """One message to the size form: its validation, then what the bot would say next (the question for
    the slot it asks for, or the size once both measures are settled). Returns the slots after it."""
    entities = [entity.as_rasa() for entity in EntityExtractor().extract(text)]
    events, said = run(actions["validate_size_advice_form"], tracker(text, "nlu_fallback", entities, slots))
    slots = {**slots, **{event["name"]: event["value"] for event in events}}
    missing = [slot for slot in ("height", "weight") if slots.get(slot) is None]
    check = MeasureCheck.from_slot(slots.get("measure_check"))
    ask = check.asked.slot if check.asked and check.asked.slot in missing else missing[0] if missing else None
    slots["requested_slot"] = ask
    next_action = f"action_ask_{ask}" if ask else "action_recommend_size"
    if not said:  # as the bot does: a refusal already asked again
        events, said = run(actions[next_action], tracker(text, slots=slots))
        slots = {**slots, **{event["name"]: event["value"] for event in events}}
    return slots, [message["text"] for message in said]


def test_50_jin_at_165_cm_is_questioned_as_50_kg_and_a_yes_gives_the_size(actions: dict[str, Action]) -> None:
    # When a customer of 165 cm says 50斤 (25 kg)
    slots, said = turn(actions, "我165cm 50斤", {})
    # Then no size is given: the weight is held back and put to the customer in the other unit
    assert (slots["height"], slots["weight"], slots["requested_slot"]) == (165.0, None, "weight")
    assert len(said) == 1 and "是50公斤吗？" in said[0] and "推荐" not in said[0]
    # And once the customer says yes, the size comes for 50 kg
    slots, said = turn(actions, "是的", slots)
    assert said == ["身高 165cm、体重 50kg，推荐您选 M 码。"]
    assert (slots["size"], slots["height"], slots["weight"], slots["measure_check"]) == ("M", None, None, None)


def test_50_jin_at_180_cm_is_questioned_rather_than_given_xxl(actions: dict[str, Action]) -> None:
    slots, said = turn(actions, "180cm 50斤", {})
    assert slots["weight"] is None and slots.get("size") is None
    assert "是50公斤吗？" in said[0] and "XXL" not in said[0]
    # a correction is taken as it is, and the size follows from it
    slots, said = turn(actions, "不好意思，是68公斤", slots)
    assert said[0].startswith("身高 180cm、体重 68kg，推荐您选 XXL 码。")


def test_a_no_asks_again_and_the_same_figure_again_is_believed(actions: dict[str, Action]) -> None:
    slots, said = turn(actions, "165cm 50斤", {})
    assert "是50公斤吗？" in said[0]
    # "不是": the weight is asked for again, plainly
    slots, said = turn(actions, "不是", slots)
    assert slots["weight"] is None and said == ["请问您的体重是多少？（例如 50kg 或 100斤）"]
    # the customer repeats 50斤: they mean it, and get a size for 25 kg
    slots, said = turn(actions, "50斤", slots)
    assert "体重 25kg，推荐您选 M 码" in said[0]


def test_a_height_no_adult_has_is_confirmed_first(actions: dict[str, Action]) -> None:
    slots, said = turn(actions, "身高120 体重40公斤", {})
    assert (slots["height"], slots["weight"]) == (None, 40.0)
    assert said == ["您说的身高是 120cm，对吗？对的话请回复「是」，不对请直接告诉我正确的身高。"]
    slots, said = turn(actions, "对", slots)
    assert "身高 120cm、体重 40kg，推荐您选 S 码" in said[0]


def test_a_weight_in_kilograms_that_fits_as_jin_is_questioned_as_jin(actions: dict[str, Action]) -> None:
    slots, said = turn(actions, "160cm 130公斤", {})
    assert slots["weight"] is None and "您说的体重是 130公斤，是130斤吗？" in said[0]
    slots, said = turn(actions, "嗯嗯", slots)
    assert "体重 65kg" in said[0]


@pytest.mark.parametrize("text", ["我158 95斤", "一米六八 一百一十斤", "165cm 50kg", "185cm 90公斤", "150 体重100公斤"])
def test_believable_measures_get_a_size_at_once(actions: dict[str, Action], text: str) -> None:
    slots, said = turn(actions, text, {"requested_slot": "height"})
    assert "推荐您选" in said[0] and slots.get("measure_check") is None


@pytest.mark.parametrize(
    ("height", "weight", "unit", "doubt"),
    [
        (165, 25, JIN, ("weight", 25, 50)),  # 50斤 that fits as 50 公斤
        (165, 100, KG, None),  # heavy but possible (BMI 36.7)
        (160, 130, KG, ("weight", 130, 65)),  # BMI 50.8; as 130斤 it fits
        (210, 40, KG, ("weight", 40, 40)),  # no reading fits: the figure itself is put to the customer
        (130, 40, KG, ("height", 130, 130)),
        (None, 25, JIN, ("weight", 25, 50)),  # 25 kg is no adult's weight, height or not
        (None, 60, KG, None),
    ],
)
def test_what_is_questioned(
    height: float | None, weight: float, unit: str, doubt: tuple[str, float, float] | None
) -> None:
    assert find_doubt(height, weight, check=MeasureCheck(), weight_unit=unit) == doubt
    # once the customer has confirmed the figure in question, nothing is questioned again
    if doubt is not None:
        slot, said, _ = doubt
        confirmed = MeasureCheck(confirmed={slot: said})
        assert find_doubt(height, weight, check=confirmed, weight_unit=unit) is None
