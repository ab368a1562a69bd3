"""The template registry: WeChat's field rules per type (known-answer values from WECHAT_RULES.md),
shortening where a template allows it, placeholders, and a registry file refused with each problem."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.outreach.errors import InvalidTemplateData, TemplatesError, UnknownTemplate
from bot.outreach.templates import TemplateField, fit_value, load_templates, parse_templates
from foundation.watched_file import WatchedFile
from tests.support import DEMO_KB

DEMO_TEMPLATES = DEMO_KB.with_name("subscribe_templates.yaml")


@pytest.mark.parametrize(("key", "value"), [
    ("thing1", "二十个字以内的商品名称也可以有Abc123!"[:20]),
    ("number2", "12345678901234567890123456789012"),
    ("number2", "3.14"),
    ("letter3", "ABCdef"),
    ("symbol4", "%$#"),
    ("character_string5", "SO-2026_12/04#1"),
    ("time6", "2026-12-04 15:01"),
    ("time6", "15:01"),
    ("time6", "2026年12月04日 15:01 ~ 2026年12月05日 15:01"),
    ("date7", "2026-12-04"),
    ("date7", "2026年12月4日"),
    ("amount8", "¥128.00"),
    ("amount8", "￥9999999999元"),
    ("phone_number9", "+86 138-0013-8000"),
    ("car_number10", "粤A12345"),
    ("name11", "欧阳娜娜"),
    ("name11", "Alice Smith"),
    ("phrase12", "退款成功"),
])
def test_values_wechat_takes(key: str, value: str) -> None:
    assert fit_value(TemplateField(key, key, value), value) == value


@pytest.mark.parametrize(("key", "value", "rule"), [
    ("thing1", "这是一个超过二十个字的非常非常非常长的商品名称啊", "at most 20 characters"),
    ("number2", "12a", "a number"),
    ("number2", "1" * 33, "a number"),
    ("letter3", "abc1", "letters"),
    ("symbol4", "%%%%%%", "symbols"),
    ("character_string5", "SO 2026", "no spaces"),
    ("character_string5", "订单1", "no spaces"),
    ("time6", "明天下午", "a time"),
    ("date7", "2026-02-30", "a date"),
    ("amount8", "128元", "currency symbol"),
    ("amount8", "¥12345678901", "currency symbol"),
    ("phone_number9", "1" * 18, "17"),
    ("car_number10", "粤A1234567", "8"),
    ("name11", "欧阳娜娜欧阳娜娜欧阳娜", "10 Chinese"),
    ("phrase12", "退款已经成功", "5 Chinese"),
    ("phrase12", "ok", "5 Chinese"),
    ("thing1", "  ", "empty"),
])
def test_values_wechat_refuses_name_the_field_and_the_rule(key: str, value: str, rule: str) -> None:
    with pytest.raises(InvalidTemplateData) as refused:
        fit_value(TemplateField(key, key, value), value)
    assert refused.value.field == key and rule in refused.value.rule


def test_a_thing_the_template_lets_shorten_ends_in_an_ellipsis() -> None:
    long = "这是一个超过二十个字的非常非常非常长的商品名称啊"
    shortened = fit_value(TemplateField("thing3", "商品名称", "{items}", shorten=True), long)
    assert len(shortened) == 20 and shortened.endswith("…") and shortened.startswith(long[:19])


def test_the_demo_registry_renders_an_order_notice() -> None:
    registry = load_templates(DEMO_TEMPLATES)
    paid = registry.get("sbx_mp_order_paid")
    data = paid.render({"order_no": "20261204153000123456", "amount": "¥259.00", "items": "法式碎花连衣裙等2件",
                        "paid_at": "2026-12-04 15:30"})
    assert data == {"character_string1": "20261204153000123456", "amount2": "¥259.00", "thing3": "法式碎花连衣裙等2件",
                    "time4": "2026-12-04 15:30"}
    assert paid.page_for({"order_no": "X1"}) == "pages/order/index?no=X1&src=notice"
    with pytest.raises(InvalidTemplateData, match=r"no value for \{paid_at\}"):
        paid.render({"order_no": "1", "amount": "¥1.00", "items": "x"})
    with pytest.raises(UnknownTemplate):
        registry.get("nope")
    assert [t.id for t in registry.to_ask("marketing")] == ["sbx_mp_new_arrival"]


def test_a_broken_registry_is_refused_with_every_problem() -> None:
    raw = {"templates": [
        {"id": "a", "title": "t", "purpose": "order_paid", "fields": {"thing1": {"label": "x", "value": "y"}}},
        {"id": "a", "title": "t", "purpose": "order_paid", "fields": {"thing1": {"label": "x", "value": "y"}}},
        {"id": "b", "title": "t", "purpose": "gossip", "fields": {"thing1": {}}},
        {"id": "c", "title": "t", "purpose": "refund", "fields": {"colour1": {"label": "x"}}},
        {"id": "d", "title": "t", "purpose": "refund", "fields": {"amount1": {"label": "x", "shorten": True}}},
    ]}
    with pytest.raises(TemplatesError) as refused:
        parse_templates(raw, source="t.yaml")
    problems = " | ".join(refused.value.problems)
    assert "'gossip'" in problems and "colour1" in problems and "cannot be shortened" in problems
    assert "template id 'a' appears twice" in problems


def test_an_edited_registry_is_reloaded_and_a_broken_edit_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text(DEMO_TEMPLATES.read_text(encoding="utf-8"), encoding="utf-8")
    now = [0.0]
    source = WatchedFile(path, load=load_templates, empty=parse_templates(None), errors=TemplatesError,
                         what="templates", clock=lambda: now[0])
    assert len(source.current().templates) == 9
    path.write_text("templates: [oops", encoding="utf-8")
    time.sleep(0.01)
    now[0] += 2
    assert len(source.current().templates) == 9 and source.last_error
    path.write_text("templates: []\n", encoding="utf-8")
    now[0] += 2
    assert source.current().templates == () and source.last_error is None
