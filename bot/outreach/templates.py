"""The subscribe-message templates a store has picked in WeChat's admin, as a registry file.

Each template names WeChat's template id, its title, kind (one-time: each consent allows one send;
long-term: consent lasts), purpose (what it is sent for) and its fields. A field's WeChat type is the
prefix of its key (`thing3` is a thing); its `value` is the wording, with `{placeholders}` the sender
fills (`{order_no}`, `{amount}` ...). Data is checked per type before anything is sent, with WeChat's
rules (WECHAT_RULES.md); a value that does not fit is refused naming the field and the rule, or, where
the field says `shorten: true`, cut to fit with "…".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bot.models import Channel
from bot.outreach.errors import InvalidTemplateData, TemplatesError, UnknownTemplate
from foundation import fast_yaml

ELLIPSIS = "…"
CJK = "\u4e00-\u9fff\u3400-\u4dbf"
MAX_TEMPLATES_PER_REQUEST = 3  # wx.requestSubscribeMessage asks for at most 3 at once


class TemplateKind(StrEnum):
    ONE_TIME = "one_time"  # each consent allows exactly one send
    LONG_TERM = "long_term"  # one consent allows sends until the customer turns it off


class Purpose(StrEnum):
    ORDER_PAID = "order_paid"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"
    ORDER_EXPIRING = "order_expiring"  # an unpaid order is about to be closed
    REFUND = "refund"
    CART_REMINDER = "cart_reminder"
    MARKETING = "marketing"


# What the mini-program asks consent for at one moment: at checkout (order), in the cart, or for news.
CONSENT_GROUPS: dict[str, frozenset[Purpose]] = {
    "order": frozenset({Purpose.ORDER_PAID, Purpose.ORDER_SHIPPED, Purpose.ORDER_DELIVERED,
                        Purpose.ORDER_EXPIRING, Purpose.REFUND}),
    "cart": frozenset({Purpose.CART_REMINDER}),
    "marketing": frozenset({Purpose.MARKETING}),
}


@dataclass(frozen=True)
class FieldRule:
    """One WeChat field type: how long a value may be and which characters it may hold."""

    limit: int
    pattern: re.Pattern[str] | None
    description: str
    shortenable: bool = False


_DATE = r"\d{4}(?:-|/|年)\d{1,2}(?:-|/|月)\d{1,2}日?"
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_POINT_TIME = rf"(?:{_DATE}\s*)?{_TIME}"
_POINT_DATE = rf"{_DATE}(?:\s*{_TIME})?"

RULES: dict[str, FieldRule] = {
    "thing": FieldRule(20, None, "at most 20 characters", shortenable=True),
    "number": FieldRule(32, re.compile(r"^\d+(?:\.\d+)?$"), "a number of at most 32 digits"),
    "letter": FieldRule(32, re.compile(r"^[A-Za-z]+$"), "at most 32 letters"),
    "symbol": FieldRule(5, re.compile(rf"^[^\w\s{CJK}]+$"), "at most 5 symbols"),
    "character_string": FieldRule(32, re.compile(r"^[\x21-\x7e]+$"),
                                  "at most 32 digits, letters or symbols, no spaces"),
    "time": FieldRule(40, re.compile(rf"^{_POINT_TIME}(?:\s*~\s*{_POINT_TIME})?$"),
                      "a time such as 2026-12-04 15:01 (or two joined by ~)"),
    "date": FieldRule(40, re.compile(rf"^{_POINT_DATE}(?:\s*~\s*{_POINT_DATE})?$"),
                      "a date such as 2026-12-04 (or two joined by ~)"),
    "amount": FieldRule(16, re.compile(r"^[¥￥$€£]\d{1,10}(?:\.\d{1,2})?元?$"),
                        "a currency symbol and at most 10 digits, e.g. ¥128.00"),
    "phone_number": FieldRule(17, re.compile(r"^[0-9+\-() ]+$"), "at most 17 digits and symbols"),
    "car_number": FieldRule(8, re.compile(rf"^[{CJK}A-Za-z0-9]+$"), "a plate of at most 8 characters"),
    "name": FieldRule(20, re.compile(rf"^(?:[{CJK}·]{{1,10}}|[A-Za-z .]{{1,20}})$"),
                      "at most 10 Chinese characters or 20 letters"),
    "phrase": FieldRule(5, re.compile(rf"^[{CJK}]{{1,5}}$"), "at most 5 Chinese characters"),
}
KEY = re.compile(r"^([a-z_]+?)(\d+)$")


@dataclass(frozen=True)
class TemplateField:
    key: str  # WeChat's keyword, e.g. thing3
    label: str  # what the customer sees beside the value, e.g. 商品名称
    value: str  # the wording, with {placeholders}
    shorten: bool = False

    @property
    def type(self) -> str:
        match = KEY.match(self.key)
        assert match is not None, "checked when the registry was loaded"
        return match.group(1)


@dataclass(frozen=True)
class Template:
    id: str
    title: str
    kind: TemplateKind
    purpose: Purpose
    channel: Channel  # mp: message/subscribe/send; oa: the Official Account's bizsend
    fields: tuple[TemplateField, ...]
    page: str = ""  # the mini-program page the message opens, with {placeholders}

    def field_of(self, key: str) -> TemplateField:
        for candidate in self.fields:
            if candidate.key == key:
                return candidate
        raise InvalidTemplateData(key, f"not a field of template {self.id}")

    def render(self, context: Mapping[str, object]) -> dict[str, str]:
        """Each field's wording filled from `context`, checked (and shortened where allowed)."""
        return self.check({f.key: _fill(f.value, context, f.key) for f in self.fields})

    def check(self, values: Mapping[str, str]) -> dict[str, str]:
        """Values keyed by field, checked against their types: every field given, none unknown."""
        unknown = sorted(set(values) - {f.key for f in self.fields})
        if unknown:
            raise InvalidTemplateData(unknown[0], f"not a field of template {self.id}")
        return {f.key: fit_value(f, values.get(f.key, "")) for f in self.fields}

    def page_for(self, context: Mapping[str, object]) -> str:
        return _fill(self.page, context, "page") if self.page else ""


def fit_value(field_: TemplateField, value: str) -> str:
    """The value as WeChat will take it, or InvalidTemplateData naming the field and the rule."""
    rule = RULES[field_.type]
    value = value.strip()
    if not value:
        raise InvalidTemplateData(field_.key, "must not be empty")
    if len(value) > rule.limit:
        if not (rule.shortenable and field_.shorten):
            raise InvalidTemplateData(field_.key, rule.description, value)
        value = value[:rule.limit - 1] + ELLIPSIS
    if rule.pattern is not None and not rule.pattern.match(value):
        raise InvalidTemplateData(field_.key, rule.description, value)
    if field_.type in ("time", "date") and not _real_dates(value):
        raise InvalidTemplateData(field_.key, rule.description, value)
    return value


_DATE_PARTS = re.compile(r"(\d{4})(?:-|/|年)(\d{1,2})(?:-|/|月)(\d{1,2})")


def _real_dates(value: str) -> bool:
    """Every date in the value exists (WeChat refuses 2026-02-30)."""
    try:
        for year, month, day in _DATE_PARTS.findall(value):
            date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def to_wechat_data(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The `data` of a subscribe send: {"thing3": {"value": "..."}}."""
    return {key: {"value": value} for key, value in values.items()}


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _fill(wording: str, context: Mapping[str, object], where: str) -> str:
    try:
        return wording.format_map(_Placeholders({k: str(v) for k, v in context.items()}))
    except KeyError as exc:
        raise InvalidTemplateData(where, f"no value for {{{exc.args[0]}}}") from None
    except (ValueError, IndexError) as exc:
        raise InvalidTemplateData(where, f"bad placeholder: {exc}") from None


@dataclass(frozen=True)
class TemplateRegistry:
    templates: tuple[Template, ...] = field(default_factory=tuple)

    def get(self, template_id: str) -> Template:
        for template in self.templates:
            if template.id == template_id:
                return template
        raise UnknownTemplate(f"no template {template_id!r} in the registry", template_id=template_id)

    def for_purpose(self, purpose: Purpose, channel: Channel | None = None) -> list[Template]:
        return [t for t in self.templates if t.purpose == purpose and (channel is None or t.channel == channel)]

    def to_ask(self, group: str, channel: Channel = Channel.MP) -> list[Template]:
        """The templates to ask consent for at one moment (checkout, cart, news): at most 3, in file order."""
        purposes = CONSENT_GROUPS.get(group)
        if purposes is None:
            purposes = frozenset({Purpose(group)}) if group in Purpose.__members__.values() else frozenset()
        chosen = [t for t in self.templates if t.purpose in purposes and t.channel == channel]
        return chosen[:MAX_TEMPLATES_PER_REQUEST]


# ----- loading ---------------------------------------------------------------------------


def load_templates(path: Path) -> TemplateRegistry:
    try:
        raw = fast_yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TemplatesError([f"{path}: {exc}"]) from None
    return parse_templates(raw, source=str(path))


def parse_templates(raw: Any, *, source: str = "templates") -> TemplateRegistry:
    if raw is None:
        return TemplateRegistry()
    items = raw.get("templates") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise TemplatesError([f"{source}: expected a mapping with a `templates:` list"])
    problems: list[str] = []
    templates: list[Template] = []
    for index, item in enumerate(items, 1):
        try:
            templates.append(_template(item))
        except (TypeError, ValueError, KeyError) as exc:
            problems.append(f"{source}: template {index}: {exc}")
    ids = [t.id for t in templates]
    problems += [f"{source}: template id {i!r} appears twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise TemplatesError(problems)
    return TemplateRegistry(tuple(templates))


def _template(item: Any) -> Template:
    if not isinstance(item, dict):
        raise TypeError("expected a mapping")
    template_id = _text(item, "id", 128)
    fields = item.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise ValueError(f"{template_id}: `fields` must map WeChat keys (thing1 ...) to a label and value")
    return Template(
        id=template_id, title=_text(item, "title", 40),
        kind=TemplateKind(item.get("kind", TemplateKind.ONE_TIME)),
        purpose=Purpose(item["purpose"]),
        channel=Channel(item.get("channel", Channel.MP)),
        fields=tuple(_field(template_id, key, spec) for key, spec in fields.items()),
        page=str(item.get("page") or ""),
    )


def _field(template_id: str, key: Any, spec: Any) -> TemplateField:
    match = KEY.match(str(key))
    if match is None or match.group(1) not in RULES:
        raise ValueError(f"{template_id}: {key!r} is not a WeChat field key (one of {', '.join(RULES)} + a number)")
    if not isinstance(spec, dict):
        raise TypeError(f"{template_id}.{key}: expected label and value")
    shorten = bool(spec.get("shorten", False))
    if shorten and not RULES[match.group(1)].shortenable:
        raise ValueError(f"{template_id}.{key}: a {match.group(1)} cannot be shortened")
    return TemplateField(key=str(key), label=str(spec.get("label", key)), value=str(spec.get("value", "")),
                         shorten=shorten)


def _text(item: dict[str, Any], name: str, limit: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValueError(f"`{name}` must be text of 1-{limit} characters")
    return value.strip()
