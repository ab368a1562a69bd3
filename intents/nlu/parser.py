"""The NLU pipeline: text → intent with confidence, intent ranking and entities (Rasa's parse shape)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intents.nlu.classifier import IntentClassifier, IntentScore, TrainingOptions, message_features
from intents.nlu.entities import Entity, EntityExtractor
from intents.nlu.training_data import TrainingData
from intents.text import Tokeniser, normalise

# Rasa's name for "no intent was confident enough" (its FallbackClassifier's), kept so that
# rasa_sdk's Tracker.get_intent_of_latest_message(skip_fallback_intent=True) works on our trackers.
FALLBACK_INTENT = "nlu_fallback"
RANKING_SIZE = 5


@dataclass(frozen=True)
class ParseResult:
    text: str
    ranking: tuple[IntentScore, ...]
    entities: tuple[Entity, ...]
    threshold: float

    @property
    def intent(self) -> str:
        """The best intent if it is confident enough, else `nlu_fallback`."""
        return self.ranking[0].name if self.confident else FALLBACK_INTENT

    @property
    def top(self) -> IntentScore:
        return self.ranking[0]

    @property
    def confident(self) -> bool:
        return self.ranking[0].confidence >= self.threshold

    def entity_values(self, entity: str) -> list[Any]:
        return [e.value for e in self.entities if e.entity == entity]

    def as_latest_message(self) -> dict[str, Any]:
        """The `latest_message` of a Rasa tracker (and the `parse_data` of its user event)."""
        confidence = self.top.confidence if self.confident else 1.0 - self.top.confidence
        return {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": round(confidence, 4)},
            "entities": [entity.as_rasa() for entity in self.entities],
            "intent_ranking": [
                {"name": score.name, "confidence": round(score.confidence, 4)}
                for score in self.ranking[:RANKING_SIZE]
            ],
        }


class NluParser:
    def __init__(
        self, classifier: IntentClassifier, *, tokeniser: Tokeniser, extractor: EntityExtractor, threshold: float
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"intent threshold must be between 0 and 1, got {threshold}")
        self.classifier = classifier
        self._tokeniser = tokeniser
        self._extractor = extractor
        self.threshold = threshold

    @classmethod
    def train(
        cls,
        data: TrainingData,
        *,
        tokeniser: Tokeniser,
        extractor: EntityExtractor,
        threshold: float,
        options: TrainingOptions | None = None,
    ) -> NluParser:
        samples = [
            (featurise(example.text, tokeniser, extractor.extract(example.text)), example.intent)
            for example in data.examples
        ]
        classifier = IntentClassifier.train(samples, options)
        return cls(classifier, tokeniser=tokeniser, extractor=extractor, threshold=threshold)

    def parse(self, text: str) -> ParseResult:
        entities = self._extractor.extract(text)
        ranking = self.classifier.rank(featurise(text, self._tokeniser, entities))
        return ParseResult(text, tuple(ranking), tuple(entities), self.threshold)


def featurise(text: str, tokeniser: Tokeniser, entities: Sequence[Entity]) -> list[str]:
    normalised = normalise(text)
    return message_features(tokeniser.tokens_of_normalised(normalised), normalised, [e.entity for e in entities])
