"""Intent classification: multinomial logistic regression over words and character n-grams.

Features are jieba words (through the shared Tokeniser, so synonyms count as one word), character
unigrams and bigrams (which survive typos and unknown words), and the types of entities found in
the message (an order number says a lot about the intent). Training is mini-batch gradient
descent (Adam) with L2 regularisation and a seeded shuffle, so the same data always gives the same
model. The softmax probability is the confidence; the regularisation keeps it from saturating on
unseen phrasings, so a threshold on it separates "sure" from "not sure".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from foundation.memo import Memo

Featuriser = Callable[[str, Iterable[str]], list[str]]


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 0.05
    l2: float = 2e-4
    seed: int = 7


def message_features(tokens: Sequence[str], normalised: str, entity_types: Iterable[str]) -> list[str]:
    """The feature names of one message."""
    features = [f"w:{token}" for token in tokens]
    for chunk in normalised.split(" "):
        features.extend(f"c:{ch}" for ch in chunk if not ch.isdigit())
        features.extend(f"b:{chunk[i:i + 2]}" for i in range(len(chunk) - 1) if not chunk[i:i + 2].isdigit())
    features.extend(f"e:{kind}" for kind in entity_types)
    return features


class IntentClassifier:
    def __init__(self, intents: Sequence[str], vocabulary: dict[str, int], weights: NDArray[np.float64],
                 bias: NDArray[np.float64]) -> None:
        self.intents = tuple(intents)
        self._vocabulary = vocabulary
        # Read-only: one trained model may serve every parser of the process (see `train`).
        weights.flags.writeable = False
        bias.flags.writeable = False
        self._weights = weights
        self._bias = bias
        # The same numbers as Python floats, for `rank`: a message has a dozen features and there are a
        # dozen or so intents, too few for numpy to pay off, and each numpy call lets go of the GIL, which
        # a busy server's bot threads then wait to get back.
        self._rows = tuple(tuple(row) for row in weights.tolist())
        self._bias_row = tuple(bias.tolist())

    @classmethod
    def train(
        cls, samples: Sequence[tuple[list[str], str]], options: TrainingOptions | None = None
    ) -> IntentClassifier:
        """Train on (feature names, intent) pairs."""
        options = options or TrainingOptions()
        # Training is seeded, so the same samples always give the same model: build it once per process.
        return _TRAINED.get(_samples_digest(samples, options), lambda: cls._fit_new(samples, options))

    @classmethod
    def _fit_new(cls, samples: Sequence[tuple[list[str], str]], options: TrainingOptions) -> IntentClassifier:
        intents = sorted({intent for _, intent in samples})
        if len(intents) < 2:
            raise ValueError("training data needs at least two intents")
        vocabulary: dict[str, int] = {}
        for features, _ in samples:
            for name in features:
                vocabulary.setdefault(name, len(vocabulary))
        rows = [_encode(features, vocabulary) for features, _ in samples]
        labels = np.array([intents.index(intent) for _, intent in samples])
        weights, bias = _fit(rows, labels, len(vocabulary), len(intents), options)
        return cls(intents, vocabulary, weights, bias)

    def rank(self, features: Iterable[str]) -> list[IntentScore]:
        """Every intent with its probability, most likely first (ties in the intents' order)."""
        indices = sorted({self._vocabulary[name] for name in features if name in self._vocabulary})
        # As the training computes it: each known feature weighs 1/√n, rows summed in index order.
        sums = [0.0] * len(self.intents)
        if indices:
            value = 1.0 / math.sqrt(len(indices))
            sums = [value * weight for weight in self._rows[indices[0]]]
            for index in indices[1:]:
                sums = [total + value * weight for total, weight in zip(sums, self._rows[index], strict=True)]
        logits = [bias + total for bias, total in zip(self._bias_row, sums, strict=True)]
        highest = max(logits)
        shifted = [math.exp(logit - highest) for logit in logits]
        whole = sum(shifted)
        probabilities = [part / whole for part in shifted]
        order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
        return [IntentScore(self.intents[i], probabilities[i]) for i in order]


_TRAINED: Memo[IntentClassifier] = Memo(kept=4)


def _samples_digest(samples: Sequence[tuple[list[str], str]], options: TrainingOptions) -> str:
    digest = hashlib.blake2b(repr(options).encode(), digest_size=16)
    for features, intent in samples:
        digest.update("\x1f".join((intent, *features)).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def _encode(features: Iterable[str], vocabulary: dict[str, int]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Known features as indices, each weighted so that a message's vector has unit length."""
    indices = np.array(sorted({vocabulary[name] for name in features if name in vocabulary}), dtype=np.int64)
    value = 1.0 / math.sqrt(len(indices)) if len(indices) else 0.0
    return indices, np.full(len(indices), value)


def _softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def _fit(
    rows: list[tuple[NDArray[np.int64], NDArray[np.float64]]],
    labels: NDArray[np.int64],
    features: int,
    classes: int,
    options: TrainingOptions,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(options.seed)
    params = [np.zeros((features, classes)), np.zeros(classes)]
    adam = _Adam(params, options.learning_rate)
    for _ in range(options.epochs):
        order = rng.permutation(len(rows))
        for start in range(0, len(rows), options.batch_size):
            batch = order[start : start + options.batch_size]
            adam.step(_gradients(params, [rows[i] for i in batch], labels[batch], options.l2))
    return params[0], params[1]


def _gradients(
    params: list[NDArray[np.float64]],
    batch: list[tuple[NDArray[np.int64], NDArray[np.float64]]],
    labels: NDArray[np.int64],
    l2: float,
) -> list[NDArray[np.float64]]:
    weights, bias = params
    lengths = [len(indices) for indices, _ in batch]
    indices = np.concatenate([indices for indices, _ in batch])
    values = np.concatenate([values for _, values in batch])
    owners = np.repeat(np.arange(len(batch)), lengths)
    logits = np.tile(bias, (len(batch), 1))
    np.add.at(logits, owners, values[:, None] * weights[indices])
    error = _softmax(logits)
    error[np.arange(len(batch)), labels] -= 1.0
    error /= len(batch)
    weight_gradient = l2 * weights
    np.add.at(weight_gradient, indices, values[:, None] * error[owners])
    return [weight_gradient, error.sum(axis=0)]


class _Adam:
    def __init__(self, params: list[NDArray[np.float64]], learning_rate: float) -> None:
        self._params = params
        self._rate = learning_rate
        self._first = [np.zeros_like(p) for p in params]
        self._second = [np.zeros_like(p) for p in params]
        self._steps = 0

    def step(self, gradients: list[NDArray[np.float64]], beta1: float = 0.9, beta2: float = 0.999) -> None:
        self._steps += 1
        correction = math.sqrt(1 - beta2**self._steps) / (1 - beta1**self._steps)
        for param, gradient, first, second in zip(self._params, gradients, self._first, self._second, strict=True):
            first *= beta1
            first += (1 - beta1) * gradient
            second *= beta2
            second += (1 - beta2) * gradient * gradient
            param -= self._rate * correction * first / (np.sqrt(second) + 1e-8)
