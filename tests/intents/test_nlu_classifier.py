"""The intent classifier on the shipped demo data, measured on the held-out file; `chatshop nlu eval`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatshop.dialogue_setup import catalog_file_names, train_parser, training_products
from intents.nlu.classifier import _encode, _softmax
from intents.nlu.evaluate import evaluate
from intents.nlu.parser import FALLBACK_INTENT, NluParser, featurise
from intents.nlu.training_data import read_training_data
from intents.text import Tokeniser
from tests.support import FIXTURES

ROOT = Path(__file__).parents[2]
DEMO_TRAINING = ROOT / "chatshop" / "demo" / "nlu.yml"
DEMO_CATALOG = ROOT / "chatshop" / "demo" / "catalog.yaml"
HELD_OUT = FIXTURES / "nlu" / "nlu_test.yml"


def demo_parser(threshold: float = 0.5) -> NluParser:
    training = read_training_data(DEMO_TRAINING)
    titles = catalog_file_names(DEMO_CATALOG)
    assert titles, f"no product titles in {DEMO_CATALOG}"
    tokeniser = Tokeniser(user_words=[*titles, *training_products(training)])
    return train_parser(training, tokeniser, lambda: titles, threshold=threshold)


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return demo_parser()


def test_held_out_quality_floor(parser: NluParser) -> None:
    # Given the classifier trained on the shipped data, when it reads the held-out customers' messages
    result = evaluate(parser, read_training_data(HELD_OUT))
    # Then it is right on most of them, evenly across intents, and entities are found exactly
    assert result.intent_accuracy >= 0.85, result.mistakes
    assert result.macro_f1 >= 0.85
    assert result.entity_f1 >= 0.9
    # and when it is sure (confidence above the threshold) it is almost always right
    assert result.confident_accuracy >= 0.93
    assert result.confident_share >= 0.7


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("在吗亲", "greet"),
        ("我要转人工", "ask_human"),
        ("订单20261120113000000999发货了没", "order_status"),
        ("快递到哪里了", "track_package"),
        ("我一米六五一百斤穿什么码", "size_advice"),
        ("不想要了帮我取消订单", "cancel_order"),
        ("收货地址填错了", "change_address"),
    ],
)
def test_clear_messages_get_their_intent_with_confidence(parser: NluParser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert (result.intent, result.confident) == (intent, True)
    latest = result.as_latest_message()
    assert latest["intent"]["name"] == intent
    assert latest["intent_ranking"][0] == {"name": intent, "confidence": latest["intent"]["confidence"]}


@pytest.mark.parametrize("text", ["那个", "这个怎么弄", "xyz"])
def test_vague_messages_are_not_sure(parser: NluParser, text: str) -> None:
    result = parser.parse(text)
    assert not result.confident
    assert result.as_latest_message()["intent"]["name"] == FALLBACK_INTENT
    # the best guess is still ranked, as Rasa's FallbackClassifier keeps it
    assert result.as_latest_message()["intent_ranking"][0]["name"] == result.top.name


def test_training_is_deterministic(parser: NluParser) -> None:
    again = demo_parser()
    for text in ("我的快递呢", "你们质量太差了", "有没有红色的连衣裙"):
        assert parser.parse(text).ranking == again.parse(text).ranking


def test_nlu_eval_command_prints_figures_and_a_json_line() -> None:
    command = [sys.executable, "-m", "chatshop.cli", "nlu", "eval", "--train", str(DEMO_TRAINING),
               "--test", str(HELD_OUT), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("intent accuracy") for line in lines)
    figures = json.loads(lines[-1])
    assert {"intent_accuracy", "macro_f1", "entity_f1", "per_intent"} <= figures.keys()
    assert figures["examples"] == len(read_training_data(HELD_OUT).examples)
    assert figures["per_intent"]["size_advice"]["support"] == 10


def test_nlu_eval_refuses_a_malformed_file_with_its_line() -> None:
    command = [sys.executable, "-m", "chatshop.cli", "nlu", "eval", "--train", str(DEMO_TRAINING),
               "--test", str(FIXTURES / "nlu" / "nlu_bad_line.yml")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "nlu_bad_line.yml:6:" in done.stderr


def test_the_ranking_is_the_trained_models_own_arithmetic(parser: NluParser) -> None:
    # The ranking runs in plain floats; training computes the same model with numpy (`_encode`, `_softmax`)
    classifier = parser.classifier
    for example in read_training_data(HELD_OUT).examples:
        features = featurise(example.text, parser._tokeniser, parser._extractor.extract(example.text))
        indices, values = _encode(features, classifier._vocabulary)
        logits = classifier._bias + (values[:, None] * classifier._weights[indices]).sum(axis=0)
        expected = _softmax(logits[None, :])[0]
        ranked = classifier.rank(features)
        assert [score.confidence for score in ranked] == pytest.approx(sorted(expected, reverse=True), abs=1e-12)
        assert {score.name: score.confidence for score in ranked} == pytest.approx(
            dict(zip(classifier.intents, expected, strict=True)), abs=1e-12)
