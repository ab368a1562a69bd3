"""Rasa training data: the Rasa 3 YAML form and the legacy Markdown form, with entity annotations.

Both readers give the same `TrainingData`: examples as plain text with their intent and the
annotated entity spans (start/end offsets into the plain text, as Rasa reports them). A malformed
file is refused with its line number; nothing is half-read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from intents.nlu.errors import TrainingDataError

# `[text](entity)`, `[text](entity:value)` (legacy synonym form) or `[text]{"entity": .., "value": ..}`.
_ANNOTATION = re.compile(r"\[(?P<text>[^\[\]]+)\](?:\((?P<short>[^()]+)\)|(?P<json>\{[^{}]*\}))")
# What is left of an annotation the pattern above could not read: a sure sign of a typo.
_BROKEN_ANNOTATION = re.compile(r"\]\s*[({]|\[[^\]]*\]\(|\[[^\]]*$")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
# Rasa 3 sections other than intents that a training file may hold; they carry no examples for us.
_IGNORED_YAML_SECTIONS = frozenset({"synonym", "regex", "lookup"})
_IGNORED_MARKDOWN_SECTIONS = frozenset({"synonym", "regex", "lookup"})


@dataclass(frozen=True)
class EntitySpan:
    entity: str
    start: int
    end: int
    value: str
    text: str


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()
    line: int = 0  # where it was read, for messages


@dataclass(frozen=True)
class TrainingData:
    examples: tuple[Example, ...]
    source: str = ""
    intents: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "intents", tuple(sorted({example.intent for example in self.examples})))

    def by_intent(self, intent: str) -> list[Example]:
        return [example for example in self.examples if example.intent == intent]


def read_training_data(path: Path) -> TrainingData:
    """Read a `.yml`/`.yaml` (Rasa 3) or `.md` (legacy) training data file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingDataError(f"{path}: training data file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{path}: cannot read training data ({exc})") from None
    if path.suffix.lower() in (".md", ".markdown"):
        return parse_markdown(text, source=str(path))
    if path.suffix.lower() in (".yml", ".yaml"):
        return parse_yaml(text, source=str(path))
    raise TrainingDataError(f"{path}: unknown training data format (expected .yml, .yaml or .md)")


# --------------------------------------------------------------------------- annotations


def parse_annotated(raw: str, intent: str, *, source: str, line: int) -> Example:
    """One example line without its `- ` marker: strip annotations, keep their spans."""
    raw = raw.strip()
    plain: list[str] = []
    entities: list[EntitySpan] = []
    length = 0
    cursor = 0
    for match in _ANNOTATION.finditer(raw):
        before = raw[cursor : match.start()]
        _refuse_broken(before, source, line)
        plain.append(before)
        length += len(before)
        entity, value = _annotation_target(match, source, line)
        surface = match.group("text")
        entities.append(EntitySpan(entity, length, length + len(surface), value or surface, surface))
        plain.append(surface)
        length += len(surface)
        cursor = match.end()
    _refuse_broken(raw[cursor:], source, line)
    plain.append(raw[cursor:])
    text = "".join(plain)
    if not text:
        raise TrainingDataError(f"{source}:{line}: empty example")
    return Example(text, intent, tuple(entities), line)


def _refuse_broken(fragment: str, source: str, line: int) -> None:
    if _BROKEN_ANNOTATION.search(fragment):
        raise TrainingDataError(f"{source}:{line}: malformed entity annotation in {fragment.strip()!r}")


def _annotation_target(match: re.Match[str], source: str, line: int) -> tuple[str, str | None]:
    short = match.group("short")
    if short is not None:
        entity, _, value = short.partition(":")
        _check_name(entity.strip(), "entity", source, line)
        return entity.strip(), value.strip() or None
    try:
        spec = json.loads(match.group("json"))
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{source}:{line}: entity annotation is not valid JSON ({exc.msg})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
        raise TrainingDataError(f"{source}:{line}: entity annotation needs an \"entity\" name")
    _check_name(spec["entity"], "entity", source, line)
    value = spec.get("value")
    if value is not None and not isinstance(value, str | int | float):
        raise TrainingDataError(f"{source}:{line}: entity \"value\" must be text or a number")
    return spec["entity"], None if value is None else str(value)


def _check_name(name: str, what: str, source: str, line: int) -> None:
    if not _NAME.fullmatch(name):
        raise TrainingDataError(f"{source}:{line}: invalid {what} name {name!r}")


# --------------------------------------------------------------------------- Rasa 3 YAML


def parse_yaml(text: str, *, source: str = "<yaml>") -> TrainingData:
    try:
        # libyaml's loader when available: the same nodes and marks, much faster on large files.
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise TrainingDataError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(root, MappingNode):
        raise TrainingDataError(f"{source}:1: expected a mapping with an `nlu:` list")
    sections = _mapping(root)
    nlu = sections.get("nlu")
    if nlu is None:
        raise TrainingDataError(f"{source}:1: no `nlu:` section")
    if not isinstance(nlu, SequenceNode):
        raise TrainingDataError(f"{source}:{_line(nlu)}: `nlu:` must be a list of `- intent:` items")
    examples = [example for item in nlu.value for example in _yaml_item(item, source)]
    return TrainingData(tuple(examples), source)


def _yaml_item(item: Node, source: str) -> Iterator[Example]:
    if not isinstance(item, MappingNode):
        raise TrainingDataError(f"{source}:{_line(item)}: each `nlu:` item must be a mapping (`- intent: name`)")
    keys = _mapping(item)
    if _IGNORED_YAML_SECTIONS & keys.keys():
        return
    intent_node = keys.get("intent")
    if not isinstance(intent_node, ScalarNode) or not str(intent_node.value).strip():
        raise TrainingDataError(f"{source}:{_line(item)}: item without an `intent:` name")
    intent = str(intent_node.value).strip()
    _check_name(intent, "intent", source, _line(intent_node))
    unknown = sorted(set(keys) - {"intent", "examples", "metadata"})
    if unknown:
        raise TrainingDataError(f"{source}:{_line(item)}: unknown key(s) {', '.join(unknown)} in intent {intent}")
    block = keys.get("examples")
    if not isinstance(block, ScalarNode) or not str(block.value).strip():
        raise TrainingDataError(f"{source}:{_line(item)}: intent {intent} has no `examples: |` block")
    yield from _example_lines(str(block.value), intent, source, _first_content_line(block))


def _first_content_line(block: ScalarNode) -> int:
    # A literal block (`|`) starts on the line after its indicator; a plain or quoted scalar on its own.
    return _line(block) + (1 if block.style in ("|", ">") else 0)


def _example_lines(block: str, intent: str, source: str, first_line: int) -> Iterator[Example]:
    for offset, raw in enumerate(block.split("\n")):
        line = first_line + offset
        stripped = raw.strip()
        if not stripped:
            continue
        if not stripped.startswith("- "):
            raise TrainingDataError(f"{source}:{line}: example must start with '- ', got {stripped!r}")
        yield parse_annotated(stripped[2:], intent, source=source, line=line)


def _mapping(node: MappingNode) -> dict[str, Node]:
    return {str(key.value): value for key, value in node.value if isinstance(key, ScalarNode)}


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# --------------------------------------------------------------------------- legacy Markdown

_SECTION = re.compile(r"##\s*(?P<kind>[a-z_]+)\s*:\s*(?P<name>\S.*?)\s*$")


def parse_markdown(text: str, *, source: str = "<markdown>") -> TrainingData:
    examples: list[Example] = []
    section: tuple[str, str] | None = None
    in_comment = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        in_comment, stripped = _skip_comment(in_comment, stripped)
        if not stripped:
            continue
        if stripped.startswith("##"):
            section = _markdown_section(stripped, source, number)
            continue
        if section is None:
            raise TrainingDataError(f"{source}:{number}: text before the first `## intent:` heading")
        if not stripped.startswith("- "):
            raise TrainingDataError(f"{source}:{number}: example must start with '- ', got {stripped!r}")
        kind, name = section
        if kind == "intent":
            examples.append(parse_annotated(stripped[2:], name, source=source, line=number))
    return TrainingData(tuple(examples), source)


def _skip_comment(in_comment: bool, line: str) -> tuple[bool, str]:
    """HTML comments (`<!-- ... -->`) may span lines; drop them."""
    if in_comment:
        if "-->" not in line:
            return True, ""
        line = line.split("-->", 1)[1].strip()
    if line.startswith("<!--"):
        if "-->" not in line:
            return True, ""
        line = line.split("-->", 1)[1].strip()
    return False, line


def _markdown_section(line: str, source: str, number: int) -> tuple[str, str]:
    match = _SECTION.fullmatch(line)
    if match is None:
        raise TrainingDataError(f"{source}:{number}: heading must be `## intent:name`, got {line!r}")
    kind, name = match.group("kind"), match.group("name")
    if kind != "intent" and kind not in _IGNORED_MARKDOWN_SECTIONS:
        raise TrainingDataError(f"{source}:{number}: unknown section kind {kind!r}")
    if kind == "intent":
        _check_name(name, "intent", source, number)
    return kind, name


def as_dict(example: Example) -> dict[str, Any]:
    """An example as Rasa's parse output shape (text, intent, entities)."""
    return {
        "text": example.text,
        "intent": example.intent,
        "entities": [
            {"entity": e.entity, "start": e.start, "end": e.end, "value": e.value} for e in example.entities
        ],
    }
