"""Size advice as a Rasa form: height and weight filled over as many turns as it takes, then a size
from the store's size chart.

`ValidateSizeAdviceForm` is the form's validation action (rasa_sdk's FormValidationAction): it
extracts height and weight from the message's entities, or from a bare number when that slot was
just asked for ("165"), refuses impossible values, and holds back a figure no adult shopper has
(`intents.actions.plausibility`) until the customer confirms or corrects it. `action_ask_height` /
`action_ask_weight` ask for a missing slot, or put the doubtful figure to the customer;
`action_recommend_size` answers once both are known and clears them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from foundation import fast_yaml
from intents.actions.domain import (
    ACTION_ASK_HEIGHT,
    ACTION_ASK_WEIGHT,
    ACTION_RECOMMEND_SIZE,
    ACTION_VALIDATE_SIZE_FORM,
    HEIGHT,
    MEASURE_CHECK,
    REQUESTED_SLOT,
    WEIGHT,
)
from intents.actions.plausibility import JIN, KG, Doubt, MeasureCheck, find_doubt
from intents.actions.replies import ActionTexts
from intents.errors import IntentsError
from intents.nlu.confirm import is_no, is_yes
from intents.nlu.entities import BARE_WEIGHT_JIN_FROM, HEIGHT_RANGE_CM, WEIGHT_RANGE_KG, fold
from intents.nlu.numbers import NUMERAL_CHARS, chinese_number


class SizeChartError(IntentsError):
    code = "size_chart_invalid"


@dataclass(frozen=True)
class SizeRow:
    size: str
    max_height_cm: float
    max_weight_kg: float


@dataclass(frozen=True)
class Recommendation:
    size: str
    between: bool  # height and weight point at different sizes: the larger is given
    outside: bool  # beyond the chart's largest size


class SizeChart:
    def __init__(self, rows: list[SizeRow]) -> None:
        if not rows:
            raise SizeChartError("a size chart needs at least one size")
        self.rows = sorted(rows, key=lambda row: (row.max_height_cm, row.max_weight_kg))

    @classmethod
    def load(cls, path: Path) -> SizeChart:
        try:
            document = fast_yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SizeChartError(f"{path}: cannot read the size chart ({exc})") from None
        entries = document.get("sizes") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise SizeChartError(f"{path}: expected a `sizes:` list")
        return cls([_row(path, index, entry) for index, entry in enumerate(entries)])

    def recommend(self, height_cm: float, weight_kg: float) -> Recommendation:
        by_height = self._first_fitting(lambda row: row.max_height_cm >= height_cm)
        by_weight = self._first_fitting(lambda row: row.max_weight_kg >= weight_kg)
        outside = by_height is None or by_weight is None
        last = len(self.rows) - 1
        index = max(last if by_height is None else by_height, last if by_weight is None else by_weight)
        return Recommendation(self.rows[index].size, between=by_height != by_weight and not outside, outside=outside)

    def _first_fitting(self, fits: Any) -> int | None:
        return next((index for index, row in enumerate(self.rows) if fits(row)), None)


def _row(path: Path, index: int, entry: Any) -> SizeRow:
    try:
        return SizeRow(str(entry["size"]), float(entry["max_height_cm"]), float(entry["max_weight_kg"]))
    except (TypeError, KeyError, ValueError):
        raise SizeChartError(f"{path}: sizes[{index}] needs size, max_height_cm and max_weight_kg") from None


# --------------------------------------------------------------------------- bare numbers

_NUMBER = re.compile(rf"[0-9]+(?:\.[0-9]+)?|[{NUMERAL_CHARS}]+")


def bare_numbers(text: str) -> list[float]:
    """Numbers in a short answer such as "165" or "一百斤" (units are the entity extractor's job)."""
    values = []
    for token in _NUMBER.findall(text):
        value = float(token) if token[0].isdigit() else chinese_number(token)
        if value is not None:
            values.append(float(value))
    return values


def plausible_height(number: float) -> float | None:
    cm = number * 100 if number < 3 else number
    return cm if HEIGHT_RANGE_CM[0] <= cm <= HEIGHT_RANGE_CM[1] else None


def weight_in_kg(number: float, text: str) -> float:
    """A bare figure read as the text says it: 斤 when it says so, or when the figure is so large
    that only 斤 makes sense."""
    jin = "斤" in text and "公斤" not in text
    return number / 2 if jin or (number >= BARE_WEIGHT_JIN_FROM and "kg" not in text.lower()) else number


def plausible_weight(number: float, text: str) -> float | None:
    kg = weight_in_kg(number, text)
    return kg if WEIGHT_RANGE_KG[0] <= kg <= WEIGHT_RANGE_KG[1] else None


def weight_unit_said(tracker: Tracker, kg: float) -> str:
    """How the customer said the weight now in the slot (斤 or 公斤), from the latest message that
    gave it; 公斤 when no message shows the figure."""
    for event in reversed(tracker.events):
        text = fold(str(event.get("text") or "")) if event.get("event") == "user" else ""
        numbers = bare_numbers(text)
        if any(abs(n - kg * 2) < 0.01 for n in numbers) and abs(weight_in_kg(kg * 2, text) - kg) < 0.01:
            return JIN
        if any(abs(n - kg) < 0.01 for n in numbers):
            return KG
    return KG


# --------------------------------------------------------------------------- form actions


class ValidateSizeAdviceForm(FormValidationAction):
    def __init__(self, texts: ActionTexts) -> None:
        self._texts = texts

    def name(self) -> str:
        return ACTION_VALIDATE_SIZE_FORM

    async def extract_height(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found = next(tracker.get_latest_entity_values(HEIGHT), None)
        if found is not None:
            return {HEIGHT: float(found)}
        if (confirmed := _said_yes_to(tracker, HEIGHT)) is not None:
            return {HEIGHT: confirmed}
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested == WEIGHT:
            return {}
        numbers = bare_numbers(str(tracker.latest_message.get("text") or ""))
        if requested == HEIGHT and not next(tracker.get_latest_entity_values(WEIGHT), None):
            return {HEIGHT: numbers[0]} if numbers else {}
        # Opening the form ("我158 95斤穿什么码"): a number that can only be a height is one.
        heights = [number for number in numbers if plausible_height(number) is not None and number >= 100]
        return {HEIGHT: heights[0]} if heights else {}

    async def extract_weight(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found = next(tracker.get_latest_entity_values(WEIGHT), None)
        if found is not None:
            return {WEIGHT: float(found)}
        if (confirmed := _said_yes_to(tracker, WEIGHT)) is not None:
            return {WEIGHT: confirmed}
        if next(tracker.get_latest_entity_values(HEIGHT), None) is not None:
            return {}  # the numbers of "一米六二" are the height's, not a weight
        text = str(tracker.latest_message.get("text") or "")
        numbers = bare_numbers(text)
        requested = tracker.get_slot(REQUESTED_SLOT)
        # "165 50" answering the height question carries the weight as its second number.
        position = 0 if requested == WEIGHT else 1 if requested == HEIGHT else None
        if position is None or len(numbers) <= position:
            return {}
        # Read in its unit even when out of range, so validation refuses "48斤" rather than take 48 kg.
        return {WEIGHT: weight_in_kg(numbers[position], text)}

    async def validate_height(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        height = plausible_height(float(value)) if value is not None else None
        if height is None:
            dispatcher.utter_message(text=self._texts.bad_height)
        return {HEIGHT: height}

    async def validate_weight(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        weight = float(value) if value is not None else None
        if weight is None or not WEIGHT_RANGE_KG[0] <= weight <= WEIGHT_RANGE_KG[1]:
            dispatcher.utter_message(text=self._texts.bad_weight)
            return {WEIGHT: None}
        return {WEIGHT: weight}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Each measure's own validation, then the pair's: a figure no adult shopper has is held back
        (its slot emptied, so the form asks for it) and put to the customer by the ask action."""
        events: list[EventType] = await super().get_validation_events(dispatcher, tracker, domain)
        return events + self._check_plausibility(tracker, events)

    def _check_plausibility(self, tracker: Tracker, events: list[EventType]) -> list[EventType]:
        before = MeasureCheck.from_slot(tracker.get_slot(MEASURE_CHECK))
        given = {e["name"]: float(e["value"]) for e in events
                 if e.get("name") in (HEIGHT, WEIGHT) and e.get("value") is not None}
        check = _take_answer(before, given, _text(tracker))
        held_back: list[EventType] = []
        doubt = self._doubt(tracker, check) if given else None
        if doubt is not None:
            check = check.asking(doubt)
            held_back.append(SlotSet(doubt.slot, None))
        elif check.asked is not None and tracker.get_slot(check.asked.slot) is not None:
            check = check.asking(None)  # the measure in question was settled some other way
        return held_back if check == before else [*held_back, SlotSet(MEASURE_CHECK, check.to_slot())]

    def _doubt(self, tracker: Tracker, check: MeasureCheck) -> Doubt | None:
        height, weight = _number(tracker.get_slot(HEIGHT)), _number(tracker.get_slot(WEIGHT))
        unit = weight_unit_said(tracker, weight) if weight is not None else KG
        found = find_doubt(height, weight, check=check, weight_unit=unit)
        if found is None:
            return None
        slot, said, proposed = found
        return Doubt(slot, said, proposed, self._question(slot, said, proposed, unit))

    def _question(self, slot: str, said: float, proposed: float, unit: str) -> str:
        texts = self._texts
        if slot == HEIGHT:
            return texts.confirm_measure.format(measure="身高", said=f"{_shown(said)}cm")
        as_said = f"{_shown(said * 2)}斤（{_shown(said)}公斤）" if unit == JIN else f"{_shown(said)}公斤"
        if abs(proposed - said) < 0.01:
            return texts.confirm_measure.format(measure="体重", said=as_said)
        other = f"{_shown(proposed)}公斤" if unit == JIN else f"{_shown(said)}斤"
        return texts.confirm_weight_unit.format(said=as_said, proposed=other)


class ActionAskSlot(Action):
    def __init__(self, slot: str, question: str) -> None:
        self._slot = slot
        self._question = question

    def name(self) -> str:
        return ACTION_ASK_HEIGHT if self._slot == HEIGHT else ACTION_ASK_WEIGHT

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        # A figure held back as doubtful is put to the customer rather than asked for afresh.
        asked = MeasureCheck.from_slot(tracker.get_slot(MEASURE_CHECK)).asked
        doubt = asked.question if asked is not None and asked.slot == self._slot else None
        dispatcher.utter_message(text=doubt or self._question)
        return []


class ActionRecommendSize(Action):
    def __init__(self, chart: SizeChart, texts: ActionTexts) -> None:
        self._chart = chart
        self._texts = texts

    def name(self) -> str:
        return ACTION_RECOMMEND_SIZE

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        height, weight = tracker.get_slot(HEIGHT), tracker.get_slot(WEIGHT)
        if height is None or weight is None:
            dispatcher.utter_message(text=self._texts.ask_height if height is None else self._texts.ask_weight)
            return []
        advice = self._chart.recommend(float(height), float(weight))
        texts = self._texts
        note = texts.recommend_outside if advice.outside else texts.recommend_between if advice.between else ""
        dispatcher.utter_message(
            text=self._texts.recommend.format(height=_shown(height), weight=_shown(weight), size=advice.size, note=note)
        )
        cleared = [SlotSet(MEASURE_CHECK, None)] if tracker.get_slot(MEASURE_CHECK) is not None else []
        return [SlotSet("size", advice.size), SlotSet(HEIGHT, None), SlotSet(WEIGHT, None), *cleared]


def _take_answer(check: MeasureCheck, given: dict[str, float], text: str) -> MeasureCheck:
    """What the message says to the figure in question: the same figure again (insisting) or the one
    proposed confirms it; a bare no has the measure asked for again, without the question."""
    asked = check.asked
    if asked is None:
        return check
    if asked.slot in given and asked.answered_by(given[asked.slot]):
        return check.confirming(asked.slot, given[asked.slot])
    if not given and asked.question and is_no(text):
        return check.asking(Doubt(asked.slot, asked.said, asked.said, question=None))
    return check


def _said_yes_to(tracker: Tracker, slot: str) -> float | None:
    """The figure the bot proposed for `slot`, when the message is a bare yes to its question."""
    asked = MeasureCheck.from_slot(tracker.get_slot(MEASURE_CHECK)).asked
    if asked is None or asked.slot != slot or not asked.question or not is_yes(_text(tracker)):
        return None
    return asked.proposed


def _text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _shown(number: Any) -> str:
    value = float(number)
    return str(int(value)) if value == int(value) else f"{value:.1f}"
