"""Subscribe-message templates: each account's library of picked templates, and WeChat's checks
of a send's data against the template it names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .config import AccountKind
from .errors import WeChatError
from .fields import validate_field, validator_for

DEFAULT_LIBRARY_FILE = Path(__file__).with_name("subscribe_templates.yaml")
ONE_TIME, LONG_TERM = 2, 3
TEMPLATE_TYPES = frozenset({ONE_TIME, LONG_TERM})
# A keyword placeholder in a template's content: {{thing3.DATA}}.
PLACEHOLDER = re.compile(r"\{\{([a-z_]+\d+)\.DATA\}\}")
LABEL_END = ":："


@dataclass(frozen=True)
class Keyword:
    key: str  # "thing3": the type prefix decides how the value is checked
    label: str  # "商品名称": what the user sees in front of the value


@dataclass(frozen=True)
class Template:
    """One template in an account's library (我的模板), as wxaapi/newtmpl/gettemplate lists it."""

    pri_tmpl_id: str
    title: str
    content: str  # WeChat's form: "订单号:{{character_string1.DATA}}\n支付金额:{{amount2.DATA}}\n"
    example: str
    type: int

    @property
    def keywords(self) -> tuple[Keyword, ...]:
        return parse_keywords(self.content)

    @property
    def one_time(self) -> bool:
        return self.type == ONE_TIME

    def listing(self) -> dict[str, Any]:
        return {
            "priTmplId": self.pri_tmpl_id,
            "title": self.title,
            "content": self.content,
            "example": self.example,
            "type": self.type,
        }

    def lines(self, data: Mapping[str, Any]) -> list[dict[str, str]]:
        """The card the user sees: one label/value line per keyword, in the template's order."""
        return [{"label": k.label, "value": str(data[k.key]["value"])} for k in self.keywords if k.key in data]


def parse_keywords(content: str) -> tuple[Keyword, ...]:
    keywords: list[Keyword] = []
    for line in content.splitlines():
        for match in PLACEHOLDER.finditer(line):
            label = line[: match.start()].strip().rstrip(LABEL_END).strip()
            keywords.append(Keyword(match.group(1), label))
    return tuple(keywords)


def make_template(raw: Mapping[str, Any]) -> Template:
    """A template from its gettemplate form, refusing one the WeChat admin could not have produced."""
    template = Template(
        pri_tmpl_id=str(raw.get("priTmplId") or ""),
        title=str(raw.get("title") or ""),
        content=str(raw.get("content") or ""),
        example=str(raw.get("example") or ""),
        type=int(raw.get("type", ONE_TIME)),
    )
    if not template.pri_tmpl_id or not template.title:
        raise ValueError("a template needs priTmplId and title")
    if template.type not in TEMPLATE_TYPES:
        raise ValueError("type must be 2 (one-time) or 3 (long-term)")
    keys = [k.key for k in template.keywords]
    if not keys:
        raise ValueError("content names no keyword, e.g. 商品名称:{{thing1.DATA}}")
    if len(set(keys)) != len(keys):
        raise ValueError("content names a keyword twice")
    unknown = [key for key in keys if validator_for(key) is None]
    if unknown:
        raise ValueError(f"unknown keyword type: {', '.join(unknown)}")
    return template


def load_library(path: Path) -> dict[AccountKind, tuple[Template, ...]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {kind: tuple(make_template(t) for t in raw.get(kind) or ()) for kind in ("oa", "mp")}


@cache
def default_library() -> dict[AccountKind, tuple[Template, ...]]:
    # Templates are frozen: every account and every reset can share the one parsed copy.
    return load_library(DEFAULT_LIBRARY_FILE)


def check_data(template: Template, data: Any) -> dict[str, Any]:
    """The data, checked: 47003 naming the first bad key unless its keys are exactly the template's
    keywords and each value passes its keyword type's rule."""
    if not isinstance(data, dict) or not data:
        raise WeChatError(47003, "data is empty")
    keys = [k.key for k in template.keywords]
    for key in keys:
        if key not in data:
            raise WeChatError(47003, f"data.{key}.value is empty")
    for key in data:
        if key not in keys:
            raise WeChatError(47003, f"data.{key} is not a keyword of template {template.pri_tmpl_id}")
    for key in keys:
        validate_field(key, data[key])
    return data
