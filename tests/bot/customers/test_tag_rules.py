"""The tag rules file: loading, line-numbered refusals, hot reload keeping the last good rules, and
`chatshop tags check`."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.customers.errors import TagRulesError
from bot.customers.tag_rules import TagRuleSource, Trigger, load_tag_rules, parse_tag_rules
from chatshop.cli import main
from tests.support import DEMO_TAG_RULES

GOOD = """\
rules:
  - when: intent
    intent: product_search
    entities: [product, category]
    add: 意向客户-{category}
    group: 意向
    expires_in_days: 30
"""

BROKEN = """\
rules:
  - when: intent
    add: 意向客户-{category}
  - when: order_paid
    add: 已购-{colour}
  - when: someday
    add: x
  - when: order_total_at_least
    fen: -5
    add: VIP
  - when: faq_answered
    add: 这个标签的名字实在是太长了写不下
"""


def test_the_demo_rules_load_with_every_trigger() -> None:
    rules = load_tag_rules(DEMO_TAG_RULES)
    assert set(rules.by_trigger) == set(Trigger)
    search = rules.intent_rules("product_search", ["product"])
    assert [r.add for r in search] == [("意向客户-{category}",)]
    assert search[0].expires_in == timedelta(days=30) and search[0].group == "意向"
    paid = rules.for_trigger(Trigger.ORDER_PAID)[0]
    assert paid.add == ("已购-{category}",) and paid.remove == ("意向客户-{category}",)
    assert [r.add for r in rules.total_rules(100000)] == [("VIP",)] and rules.total_rules(99999) == []


def test_an_intent_rule_needs_one_of_its_entities() -> None:
    rules = parse_tag_rules(GOOD)
    assert rules.intent_rules("product_search", ["colour"]) == []
    assert rules.intent_rules("greet", ["product"]) == []
    assert len(rules.intent_rules("product_search", ["category"])) == 1


def test_a_rule_renders_its_placeholders_or_nothing() -> None:
    rule = parse_tag_rules(GOOD).rules[0]
    assert [c.name for c in rule.render({"category": "女装"})] == ["意向客户-女装"]
    assert rule.render({"product": "连衣裙"}) == []  # no category: nothing to tag
    assert rule.render({"category": "很长的分类名字很长很长"}) == []  # 43 bytes: WeChat could not carry it


def test_a_broken_file_is_refused_whole_with_every_problem_on_its_line() -> None:
    with pytest.raises(TagRulesError) as refused:
        parse_tag_rules(BROKEN, source="rules.yaml")
    assert refused.value.problems == [
        "rules.yaml:2: `intent:` is required",
        "rules.yaml:4: `add: 已购-{colour}`: `order_paid` fills {category}, {product}, not {colour}",
        "rules.yaml:6: `when:` must be one of intent, faq_answered, card_opened, order_paid, refund_requested, "
        "order_total_at_least (got 'someday')",
        "rules.yaml:8: `fen:` must be a whole number of fen above 0 (10000 = ¥100)",
        "rules.yaml:11: `add: 这个标签的名字实在是太长了写不下` is longer than 30 bytes (WeChat's limit)",
    ]


def test_invalid_yaml_is_refused_with_its_line() -> None:
    with pytest.raises(TagRulesError) as refused:
        parse_tag_rules("rules:\n  - when: intent\n    add: [unclosed\n", source="r.yaml")
    assert refused.value.problems[0].startswith("r.yaml:4: not valid YAML")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime, mtime))  # a distinct mtime even within one timestamp tick


def test_an_edit_is_seen_within_a_second_and_a_broken_one_keeps_the_last_good_rules(tmp_path: Path) -> None:
    # Given a service running on a rules file
    path = tmp_path / "tag_rules.yaml"
    write(path, GOOD, 1_000_000_000)
    clock = Clock()
    source = TagRuleSource(path, clock=clock)
    assert len(source.rules().rules) == 1
    # When a rule is added, it counts within a second
    write(path, GOOD + "  - when: card_opened\n    add: 看过-{category}\n", 2_000_000_000)
    assert len(source.rules().rules) == 1  # not looked at yet
    clock.now = 1.0
    assert [r.trigger for r in source.rules().rules] == [Trigger.INTENT, Trigger.CARD_OPENED]
    # When an edit breaks the file, the last good rules stay
    write(path, BROKEN, 3_000_000_000)
    clock.now = 2.0
    assert [r.trigger for r in source.rules().rules] == [Trigger.INTENT, Trigger.CARD_OPENED]
    # And once it is fixed, the fixed rules count
    write(path, GOOD, 4_000_000_000)
    clock.now = 3.0
    assert [r.trigger for r in source.rules().rules] == [Trigger.INTENT]


def test_a_missing_file_means_no_rules_until_it_appears(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    clock = Clock()
    source = TagRuleSource(path, clock=clock)
    assert source.rules().rules == ()
    write(path, GOOD, 1_000_000_000)
    clock.now = 1.0
    assert len(source.rules().rules) == 1


def test_tags_check_accepts_the_demo_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tags", "check", str(DEMO_TAG_RULES)]) == 0
    assert "7 rules" in capsys.readouterr().out


def test_tags_check_lists_every_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["tags", "check", str(path)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors[0] == f"chatshop: {path}:2: `intent:` is required"
    assert len(errors) == 5


def test_seed_installs_the_demo_rules_once(empty_database: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "var" / "tag_rules.yaml"
    for name, value in {"DATABASE__URL": empty_database, "KB__PATH": str(tmp_path / "kb.yaml"),
                        "TAGS__RULES_PATH": str(target), "LOGGING__LEVEL": "WARNING",
                        "OUTREACH__TEMPLATES_PATH": str(tmp_path / "subscribe_templates.yaml"),
                        "SANDBOX__CREDENTIALS_PATH": str(tmp_path / "sandbox-credentials.json")}.items():
        monkeypatch.setenv(f"CHATSHOP__{name}", value)
    assert main(["seed"]) == 0
    assert target.read_bytes() == DEMO_TAG_RULES.read_bytes()
    target.write_text(GOOD, encoding="utf-8")  # the store's own edit
    assert main(["seed"]) == 0
    assert target.read_text(encoding="utf-8") == GOOD  # never overwritten


def test_a_turn_rule_may_hand_off_and_only_a_turn_rule() -> None:
    rules = parse_tag_rules("rules:\n  - when: intent\n    intent: complaint\n    hand_off: true\n")
    [rule] = rules.for_trigger(Trigger.INTENT)
    assert rule.hand_off and rule.add == () and rule.remove == ()
    with pytest.raises(TagRulesError) as refused:
        parse_tag_rules("rules:\n  - when: order_paid\n    add: 已购\n    hand_off: true\n"
                        "  - when: intent\n    intent: greet\n    hand_off: yes please\n")
    assert refused.value.problems == [
        "<rules>:2: unknown keys for `when: order_paid`: hand_off",
        "<rules>:5: `hand_off:` must be true or false",
        "<rules>:5: a rule needs `add:` or `remove:` (a tag name or a list of them), or `hand_off: true`",
    ]
