"""Whether a height and weight are believable for an adult shopper, and what to ask when they are not.

A figure can be a valid number and still be a slip: 50斤 is 25 kg, which no adult of 165 cm weighs,
while 50 公斤 fits; a size from the slip would be wrong (at 180 cm it would even be the largest). So
before a size is given, a doubtful measure is questioned — offering the other unit when that reading
fits — and taken once the customer confirms or corrects it. The doubt lives in the size form's
`measure_check` slot between turns, as a plain dict a Rasa tracker can hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intents.actions.domain import HEIGHT, WEIGHT

# Outside these an adult is rare enough that a slip is the likelier story; a customer who confirms is believed.
ADULT_HEIGHT_CM = (140.0, 210.0)
ADULT_WEIGHT_KG = (35.0, 150.0)
# Body-mass index (kg/m²): below 15 is starvation, above 45 far beyond the chart; both read as a slip.
ADULT_BMI = (15.0, 45.0)

JIN, KG = "斤", "公斤"
_SAME = 0.01  # measures are floats; a value repeated by the customer compares equal within this

def _in(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def believable_pair(height_cm: float, weight_kg: float) -> bool:
    return _in(weight_kg / (height_cm / 100) ** 2, ADULT_BMI)


def believable_weight(weight_kg: float, height_cm: float | None) -> bool:
    return _in(weight_kg, ADULT_WEIGHT_KG) and (height_cm is None or believable_pair(height_cm, weight_kg))


@dataclass(frozen=True)
class Doubt:
    """A measure put to the customer: `said` as understood, `proposed` what a yes means (another
    reading, or `said` itself). `question` is None once the customer said no: the measure is then
    simply asked for again."""

    slot: str
    said: float
    proposed: float
    question: str | None

    def answered_by(self, value: float) -> bool:
        """The customer gave the figure questioned (insisting) or the one proposed (correcting to it)."""
        return abs(value - self.said) < _SAME or abs(value - self.proposed) < _SAME


@dataclass(frozen=True)
class MeasureCheck:
    """The `measure_check` slot: measures the customer has confirmed, and the one in question."""

    confirmed: dict[str, float] = field(default_factory=dict)
    asked: Doubt | None = None

    @classmethod
    def from_slot(cls, value: Any) -> MeasureCheck:
        if not isinstance(value, dict):
            return cls()
        asked = value.get("asked")
        doubt = Doubt(**asked) if isinstance(asked, dict) else None
        return cls(dict(value.get("confirmed") or {}), doubt)

    def to_slot(self) -> dict[str, Any] | None:
        if not self.confirmed and self.asked is None:
            return None
        asked = None if self.asked is None else vars(self.asked)
        return {"confirmed": dict(self.confirmed), "asked": asked}

    def trusts(self, slot: str, value: float | None) -> bool:
        known = self.confirmed.get(slot)
        return value is not None and known is not None and abs(known - value) < _SAME

    def confirming(self, slot: str, value: float) -> MeasureCheck:
        return MeasureCheck({**self.confirmed, slot: value}, None)

    def asking(self, doubt: Doubt | None) -> MeasureCheck:
        return MeasureCheck(dict(self.confirmed), doubt)


def questioned_slot(value: Any) -> str | None:
    """The measure the size form should ask for next, when one is in question."""
    asked = MeasureCheck.from_slot(value).asked
    return asked.slot if asked else None


def find_doubt(
    height_cm: float | None, weight_kg: float | None, *, check: MeasureCheck, weight_unit: str
) -> tuple[str, float, float] | None:
    """The measure to question as (slot, said, proposed), or None when the figures are believable.

    `weight_unit` is how the weight was said (斤 or 公斤): the other unit is offered when it fits.
    A measure the customer has confirmed is never questioned again.
    """
    if height_cm is not None and not check.trusts(HEIGHT, height_cm) and not _in(height_cm, ADULT_HEIGHT_CM):
        return HEIGHT, height_cm, height_cm
    if weight_kg is None or check.trusts(WEIGHT, weight_kg) or believable_weight(weight_kg, height_cm):
        return None
    other_reading = weight_kg * 2 if weight_unit == JIN else weight_kg / 2
    if believable_weight(other_reading, height_cm):
        return WEIGHT, weight_kg, other_reading
    return WEIGHT, weight_kg, weight_kg
