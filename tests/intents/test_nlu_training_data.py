"""Rasa training data: the YAML (Rasa 3) and Markdown (legacy) readers agree, keep entity spans, and
refuse malformed files naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from intents.nlu.errors import TrainingDataError
from intents.nlu.training_data import EntitySpan, read_training_data
from tests.support import FIXTURES

NLU = FIXTURES / "nlu"


def fixture(name: str) -> Path:
    path = NLU / name
    if not path.exists():
        raise FileNotFoundError(f"missing test fixture {path}")
    return path


def test_yaml_examples_keep_their_intent_text_and_entity_spans() -> None:
    data = read_training_data(fixture("nlu_sample.yml"))
    assert data.intents == ("order_status", "size_advice")
    first, phone, plain, height = data.examples
    assert first.text == "订单20261120093015000123到哪了"
    assert first.entities == (EntitySpan("order_no", 2, 22, "20261120093015000123", "20261120093015000123"),)
    assert first.text[2:22] == "20261120093015000123"
    # The JSON form carries an explicit value; a number value becomes text
    assert phone.entities == (EntitySpan("phone", 5, 16, "13812345678", "13812345678"),)
    assert plain.entities == ()
    assert height.entities == (EntitySpan("height", 1, 5, "165", "一米六五"),)
    # Lines keep their place in the file (blank lines inside the block count)
    assert [e.line for e in data.examples] == [5, 6, 8, 11]


def test_markdown_reads_the_same_examples_as_yaml() -> None:
    yaml_data = read_training_data(fixture("nlu_sample.yml"))
    markdown = read_training_data(fixture("nlu_sample.md"))
    strip = [(e.text, e.intent, e.entities) for e in yaml_data.examples]
    assert [(e.text, e.intent, e.entities) for e in markdown.examples] == strip


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nlu_bad_line.yml", "nlu_bad_line.yml:6: example must start with '- '"),
        ("nlu_bad_annotation.md", "nlu_bad_annotation.md:3: malformed entity annotation"),
        ("nlu_bad_json.yml", "nlu_bad_json.yml:5: entity annotation is not valid JSON"),
        ("nlu_no_intent.yml", "nlu_no_intent.yml:3: item without an `intent:` name"),
        ("nlu_text_before_heading.md", "nlu_text_before_heading.md:1: text before the first `## intent:` heading"),
    ],
)
def test_malformed_files_are_refused_with_the_line(name: str, message: str) -> None:
    with pytest.raises(TrainingDataError) as refused:
        read_training_data(fixture(name))
    assert message in str(refused.value)


def test_a_missing_file_or_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="not found"):
        read_training_data(tmp_path / "none.yml")
    other = tmp_path / "data.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="unknown training data format"):
        read_training_data(other)


def test_the_shipped_demo_data_has_twenty_examples_for_every_intent() -> None:
    demo = read_training_data(Path(__file__).parents[2] / "chatshop" / "demo" / "nlu.yml")
    required = {"greet", "thanks", "goodbye", "ask_human", "complaint", "order_status", "track_package",
                "product_search", "size_advice", "return_request", "cancel_order", "change_address"}
    assert required <= set(demo.intents)
    assert all(len(demo.by_intent(intent)) >= 20 for intent in demo.intents)


def test_the_held_out_file_is_apart_from_the_training_data() -> None:
    demo = read_training_data(Path(__file__).parents[2] / "chatshop" / "demo" / "nlu.yml")
    held_out = read_training_data(fixture("nlu_test.yml"))
    assert len(held_out.examples) >= 100
    assert not {e.text for e in held_out.examples} & {e.text for e in demo.examples}
