"""Tag rules: a YAML file saying which tags a customer gains or loses when something happens.

```yaml
rules:
  - when: intent                 # the customer's message was understood as this intent
    intent: product_search
    entities: [product, category] # ... naming any of these (optional)
    add: 意向客户-{category}
    group: 意向
    expires_in_days: 30
  - when: order_paid
    add: 已购-{category}
    remove: 意向客户-{category}
    group: 已购
```

An `intent` or `faq_answered` rule may also say `hand_off: true`: the customer goes to a person in the
same turn (routed like any handoff), with or without a tag change.

Triggers and the placeholders each one fills (a rule whose placeholder has no value does nothing):

- `intent` (`intent`, optional `entities`): the entities of the message by name, `{category}` also
  from the catalog category of a product it names;
- `faq_answered` (optional `category`): `{category}`, the answered FAQ's category;
- `card_opened`: `{category}` and `{product}` (title) of the product card opened or sent;
- `order_paid`, `refund_requested`: `{category}` and `{product}`, once for each product of the order;
- `order_total_at_least` (`fen`): fires when a paid order's total is at least that many fen.

`load_tag_rules` refuses a broken file whole, every problem with its line; `TagRuleSource` reloads the
file within a second of an edit and keeps the last good rules when an edit is broken.
"""

from __future__ import annotations

import logging
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bot.customers.errors import TagRulesError
from bot.customers.tag_models import MAX_TAG_NAME_BYTES
from foundation.watched_file import WatchedFile, WatchStatus

log = logging.getLogger(__name__)

MAX_GROUP_CHARS = 16


class Trigger(StrEnum):
    INTENT = "intent"  # a message understood as an intent (with entity conditions)
    FAQ_ANSWERED = "faq_answered"  # the bot answered an FAQ (of a category)
    CARD_OPENED = "card_opened"  # a product card opened in, or sent from, the mini-program
    ORDER_PAID = "order_paid"  # the commerce core's order_paid event
    REFUND_REQUESTED = "refund_requested"  # the commerce core's refund_requested event
    ORDER_TOTAL_AT_LEAST = "order_total_at_least"  # a paid order of at least `fen`


# Placeholders each trigger fills; `intent` rules may name any entity.
PLACEHOLDERS: dict[Trigger, frozenset[str] | None] = {
    Trigger.INTENT: None,
    Trigger.FAQ_ANSWERED: frozenset({"category"}),
    Trigger.CARD_OPENED: frozenset({"category", "product"}),
    Trigger.ORDER_PAID: frozenset({"category", "product"}),
    Trigger.REFUND_REQUESTED: frozenset({"category", "product"}),
    Trigger.ORDER_TOTAL_AT_LEAST: frozenset(),
}
_KEYS = {
    Trigger.INTENT: {"intent", "entities", "hand_off"},
    Trigger.FAQ_ANSWERED: {"category", "hand_off"},
    Trigger.CARD_OPENED: set(),
    Trigger.ORDER_PAID: set(),
    Trigger.REFUND_REQUESTED: set(),
    Trigger.ORDER_TOTAL_AT_LEAST: {"fen"},
}
_COMMON_KEYS = {"when", "add", "remove", "group", "expires_in_days"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TagChange:
    """One tag to put on or take off, with the rule that said so."""

    add: bool
    name: str
    group: str
    expires_in: timedelta | None
    rule: str  # "<trigger>@<line>", kept as who set the tag


@dataclass(frozen=True)
class TagRule:
    line: int
    trigger: Trigger
    add: tuple[str, ...]
    remove: tuple[str, ...] = ()
    group: str = ""
    expires_in: timedelta | None = None
    intent: str | None = None
    entities: tuple[str, ...] = ()  # any one of them present (none given: no condition)
    category: str | None = None  # faq_answered: only FAQs of this category
    at_least_fen: int | None = None
    hand_off: bool = False  # a person takes the conversation over (turn triggers only)

    @property
    def label(self) -> str:
        return f"{self.trigger.value}@{self.line}"

    def placeholders(self) -> set[str]:
        return {name for template in (*self.add, *self.remove) for name in _fields(template)}

    def render(self, values: Mapping[str, str]) -> list[TagChange]:
        """The changes for these values; none when a placeholder has no value or a name grows too long."""
        if any(not values.get(name) for name in self.placeholders()):
            return []
        changes = [TagChange(True, template.format_map(values), self.group, self.expires_in, self.label)
                   for template in self.add]
        changes += [TagChange(False, template.format_map(values), "", None, self.label) for template in self.remove]
        fitting = [c for c in changes if len(c.name.encode("utf-8")) <= MAX_TAG_NAME_BYTES]
        if len(fitting) < len(changes):
            log.warning("tag rule %s: a tag name for %s is longer than %d bytes; not applied",
                        self.label, dict(values), MAX_TAG_NAME_BYTES)
            return []
        return changes


@dataclass(frozen=True)
class TagRules:
    """A loaded rules file, by trigger, so a turn no rule cares about costs a dictionary lookup."""

    rules: tuple[TagRule, ...] = ()
    by_trigger: dict[Trigger, tuple[TagRule, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[TagRule]) -> TagRules:
        ordered = tuple(rules)
        grouped = {trigger: tuple(r for r in ordered if r.trigger is trigger) for trigger in Trigger}
        return cls(ordered, {trigger: found for trigger, found in grouped.items() if found})

    def for_trigger(self, trigger: Trigger) -> tuple[TagRule, ...]:
        return self.by_trigger.get(trigger, ())

    def intent_rules(self, intent: str | None, entity_names: Iterable[str]) -> list[TagRule]:
        """The intent rules this message fires (its intent, and any one of their entities present)."""
        if not intent:
            return []
        present = set(entity_names)
        return [r for r in self.for_trigger(Trigger.INTENT)
                if r.intent == intent and (not r.entities or present.intersection(r.entities))]

    def faq_rules(self, category: str | None) -> list[TagRule]:
        if category is None:
            return []
        return [r for r in self.for_trigger(Trigger.FAQ_ANSWERED) if r.category in (None, category)]

    def total_rules(self, total_fen: int) -> list[TagRule]:
        return [r for r in self.for_trigger(Trigger.ORDER_TOTAL_AT_LEAST) if total_fen >= (r.at_least_fen or 0)]


# -- loading, with line numbers -----------------------------------------------------------------------


class _Lined(dict[str, Any]):
    """A YAML mapping that remembers the line (1-based) it starts on."""

    line = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_lined(loader: _LineLoader, node: yaml.MappingNode) -> _Lined:
    mapping = _Lined({str(key): value for key, value in loader.construct_mapping(node, deep=True).items()})
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_lined)


def load_tag_rules(path: Path) -> TagRules:
    """The rules in a file; TagRulesError listing every problem as `FILE:LINE: what`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TagRulesError([f"{path}: cannot be read: {exc.strerror or exc}"]) from None
    return parse_tag_rules(text, source=str(path))


def parse_tag_rules(text: str, *, source: str = "<rules>") -> TagRules:
    try:
        document = yaml.load(text, Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise TagRulesError([f"{source}:{line}: not valid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise TagRulesError([f"{source}: not valid YAML: {exc}"]) from None
    if document is None:
        return TagRules.of([])
    if not isinstance(document, _Lined) or not isinstance(document.get("rules", []), list):
        raise TagRulesError([f"{source}:1: the file must be a mapping with a `rules:` list"])
    problems: list[str] = []
    raw_rules = document.get("rules") or []
    rules = [_rule(raw, index, source, document.line, problems) for index, raw in enumerate(raw_rules)]
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        problems.insert(0, f"{source}:{document.line}: unknown keys {', '.join(unknown)} (only `rules:`)")
    if problems:
        raise TagRulesError(problems)
    return TagRules.of(rule for rule in rules if rule is not None)


def _rule(raw: Any, index: int, source: str, parent_line: int, problems: list[str]) -> TagRule | None:
    if not isinstance(raw, _Lined):
        problems.append(f"{source}:{parent_line}: rule {index + 1} must be a mapping with `when:` and `add:`/`remove:`")
        return None
    at = f"{source}:{raw.line}"
    before = len(problems)
    trigger = _trigger(raw.get("when"), at, problems)
    if trigger is None:
        return None
    unknown = sorted(set(raw) - _COMMON_KEYS - _KEYS[trigger])
    if unknown:
        problems.append(f"{at}: unknown keys for `when: {trigger}`: {', '.join(unknown)}")
    add = _names(raw.get("add"), "add", at, trigger, problems)
    remove = _names(raw.get("remove"), "remove", at, trigger, problems)
    hand_off = _flag(raw.get("hand_off"), "hand_off", at, problems)
    if not add and not remove and not hand_off:
        problems.append(f"{at}: a rule needs `add:` or `remove:` (a tag name or a list of them), or `hand_off: true`")
    rule = TagRule(
        line=raw.line, trigger=trigger, add=add, remove=remove,
        group=_text(raw.get("group", ""), "group", at, problems, limit=MAX_GROUP_CHARS, required=False),
        expires_in=_expiry(raw.get("expires_in_days"), at, problems),
        intent=_text(raw.get("intent"), "intent", at, problems, required=trigger is Trigger.INTENT) or None,
        entities=_entities(raw.get("entities"), at, problems),
        category=_text(raw.get("category"), "category", at, problems, required=False) or None,
        at_least_fen=_fen(raw.get("fen"), at, problems) if trigger is Trigger.ORDER_TOTAL_AT_LEAST else None,
        hand_off=hand_off,
    )
    return rule if len(problems) == before else None


def _flag(value: Any, key: str, at: str, problems: list[str]) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(f"{at}: `{key}:` must be true or false")
        return False
    return value


def _trigger(value: Any, at: str, problems: list[str]) -> Trigger | None:
    try:
        return Trigger(value)
    except ValueError:
        kinds = ", ".join(t.value for t in Trigger)
        problems.append(f"{at}: `when:` must be one of {kinds} (got {value!r})")
        return None


def _names(value: Any, key: str, at: str, trigger: Trigger, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        problems.append(f"{at}: `{key}:` must be a tag name or a list of tag names")
        return ()
    for name in names:
        _check_template(name.strip(), key, at, trigger, problems)
    return tuple(name.strip() for name in names)


def _check_template(template: str, key: str, at: str, trigger: Trigger, problems: list[str]) -> None:
    try:
        fields = _fields(template)
    except ValueError as exc:
        problems.append(f"{at}: `{key}: {template}`: {exc}")
        return
    allowed = PLACEHOLDERS[trigger]
    for name in fields:
        if not _IDENTIFIER.match(name):
            problems.append(f"{at}: `{key}: {template}`: {{{name}}} is not a placeholder name")
        elif allowed is not None and name not in allowed:
            offered = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "none"
            problems.append(f"{at}: `{key}: {template}`: `{trigger}` fills {offered}, not {{{name}}}")
    fixed = "".join(text for text, _, _, _ in string.Formatter().parse(template))
    if len(fixed.encode("utf-8")) > MAX_TAG_NAME_BYTES:
        problems.append(f"{at}: `{key}: {template}` is longer than {MAX_TAG_NAME_BYTES} bytes (WeChat's limit)")


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def _text(value: Any, key: str, at: str, problems: list[str], *, limit: int = 64, required: bool) -> str:
    if value is None or value == "":
        if required:
            problems.append(f"{at}: `{key}:` is required")
        return ""
    if not isinstance(value, str) or len(value) > limit:
        problems.append(f"{at}: `{key}:` must be text of at most {limit} characters")
        return ""
    return value.strip()


def _entities(value: Any, at: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and _IDENTIFIER.match(n) for n in names):
        problems.append(f"{at}: `entities:` must be an entity name or a list of them")
        return ()
    return tuple(names)


def _expiry(value: Any, at: str, problems: list[str]) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.append(f"{at}: `expires_in_days:` must be a number of days above 0")
        return None
    return timedelta(days=value)


def _fen(value: Any, at: str, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.append(f"{at}: `fen:` must be a whole number of fen above 0 (10000 = ¥100)")
        return None
    return value


# -- the file a service runs on --------------------------------------------------------------------------


class TagRuleSource:
    """The rules of `path`, reloaded when the file changes (foundation.watched_file: looked at no more than
    once a second, so within a second of an edit); a broken edit is logged and the last good rules kept.
    A file that does not exist means no rules, until it appears. ``clock`` exists so tests can move time."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._file = WatchedFile(path, load=load_tag_rules, empty=TagRules.of([]), errors=TagRulesError,
                                 what="tag rules", clock=clock)

    @property
    def path(self) -> Path:
        return self._file.path

    def rules(self) -> TagRules:
        return self._file.current()

    def status(self) -> WatchStatus:
        """When the rules in force were loaded, and why the file's latest change was not taken, if it was not."""
        return self._file.status()
