"""`nlu eval`: intent accuracy, macro F1 and entity F1 (exact span and type) on a held-out file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from intents.nlu.parser import NluParser
from intents.nlu.training_data import TrainingData


@dataclass(frozen=True)
class IntentFigures:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Mistake:
    text: str
    expected: str
    predicted: str
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    examples: int
    intent_accuracy: float
    macro_f1: float
    entity_precision: float
    entity_recall: float
    entity_f1: float
    # Of the messages the classifier was sure about (confidence ≥ threshold): how many, how right.
    confident_share: float
    confident_accuracy: float
    per_intent: dict[str, IntentFigures] = field(default_factory=dict)
    mistakes: tuple[Mistake, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "intent_accuracy": round(self.intent_accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "entity_precision": round(self.entity_precision, 4),
            "entity_recall": round(self.entity_recall, 4),
            "entity_f1": round(self.entity_f1, 4),
            "confident_share": round(self.confident_share, 4),
            "confident_accuracy": round(self.confident_accuracy, 4),
            "per_intent": {
                name: {"precision": round(f.precision, 4), "recall": round(f.recall, 4), "f1": round(f.f1, 4),
                       "support": f.support}
                for name, f in sorted(self.per_intent.items())
            },
        }


def evaluate(parser: NluParser, test: TrainingData) -> Evaluation:
    if not test.examples:
        raise ValueError("the test file has no examples")
    predicted: list[str] = []
    confident_right = confident = 0
    entity_hits = entity_predicted = entity_expected = 0
    mistakes: list[Mistake] = []
    for example in test.examples:
        result = parser.parse(example.text)
        top = result.top
        predicted.append(top.name)
        if result.confident:
            confident += 1
            confident_right += top.name == example.intent
        if top.name != example.intent:
            mistakes.append(Mistake(example.text, example.intent, top.name, top.confidence))
        found = {(e.entity, e.start, e.end) for e in result.entities}
        gold = {(e.entity, e.start, e.end) for e in example.entities}
        entity_hits += len(found & gold)
        entity_predicted += len(found)
        entity_expected += len(gold)
    expected = [example.intent for example in test.examples]
    per_intent = _per_intent(expected, predicted)
    entity_precision = _ratio(entity_hits, entity_predicted)
    entity_recall = _ratio(entity_hits, entity_expected)
    return Evaluation(
        examples=len(expected),
        intent_accuracy=_ratio(sum(e == p for e, p in zip(expected, predicted, strict=True)), len(expected)),
        macro_f1=sum(f.f1 for f in per_intent.values()) / len(per_intent),
        entity_precision=entity_precision,
        entity_recall=entity_recall,
        entity_f1=_f1(entity_precision, entity_recall),
        confident_share=_ratio(confident, len(expected)),
        confident_accuracy=_ratio(confident_right, confident),
        per_intent=per_intent,
        mistakes=tuple(mistakes),
    )


def _per_intent(expected: list[str], predicted: list[str]) -> dict[str, IntentFigures]:
    """Figures for every intent the test file holds or the classifier answered."""
    true_positive: Counter[str] = Counter()
    for e, p in zip(expected, predicted, strict=True):
        if e == p:
            true_positive[e] += 1
    support, answered = Counter(expected), Counter(predicted)
    figures = {}
    for intent in sorted(set(support) | set(answered)):
        precision = _ratio(true_positive[intent], answered[intent])
        recall = _ratio(true_positive[intent], support[intent])
        figures[intent] = IntentFigures(precision, recall, _f1(precision, recall), support[intent])
    return figures


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
