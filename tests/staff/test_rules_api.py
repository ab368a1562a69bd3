"""The rules page's data through the staff API, over real HTTP: the tag rules in force (from their file) with
when they were loaded, a broken edit of the file shown with the loader's error while the last good rules stay
in force, the skill groups from the settings (intents, tag globs, hours, closed dates, kf account) and the
KB file's status; admins only (tests/staff/test_kb_api.py checks the other roles are refused)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from staff.roles import Role
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import DEMO_KB, DEMO_TAG_RULES, LiveServer
from tests.support.sandbox_client import wait_until

GROUPS = [
    {"name": "售前", "intents": ["product_search", "size_advice"]},
    {"name": "售后", "intents": ["complaint"], "tags": ["售后", "投诉-*"],
     "hours": {"mon-fri": "09:00-12:00,13:30-24:00", "sat": "10:00-18:00"}, "closed_dates": ["2026-10-01"],
     "kf_account": "aftersales@chatshop"},
]


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "tag_rules.yaml"
    shutil.copy(DEMO_TAG_RULES, path)
    return path


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer], rules_path: Path, tmp_path: Path) -> LiveServer:
    kb = tmp_path / "kb.yaml"
    shutil.copy(DEMO_KB, kb)
    return server_factory({"CHATSHOP__TAGS__RULES_PATH": str(rules_path), "CHATSHOP__KB__PATH": str(kb),
                           "CHATSHOP__ROUTING__GROUPS": json.dumps(GROUPS, ensure_ascii=False)})


def rules_of(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/staff/api/rules")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_admins_see_the_rules_in_force_the_skill_groups_and_the_kb(shop: LiveServer, rules_path: Path) -> None:
    make_staff(shop, "boss", Role.ADMIN, groups=())
    with shop.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(shop, 'boss')}"
        page = rules_of(http)

    tags = page["tag_rules"]
    assert tags["path"] == str(rules_path) and tags["exists"] is True and tags["last_error"] is None
    assert abs(datetime.fromisoformat(tags["loaded_at"]) - datetime.now(UTC)) < timedelta(minutes=5)
    first = tags["rules"][0]
    assert first == {"line": 7, "when": "intent", "intent": "product_search", "entities": ["product", "category"],
                     "category": None, "at_least_fen": None, "add": ["意向客户-{category}"], "remove": [],
                     "group": "意向", "expires_in_days": 30.0, "hand_off": False}
    assert [rule["when"] for rule in tags["rules"]][:4] == ["intent", "card_opened", "order_paid", "refund_requested"]

    presale, aftersales = page["skill_groups"]
    assert presale["name"] == "售前" and presale["always_open"] is True and presale["open_now"] is True
    assert presale["intents"] == ["product_search", "size_advice"] and presale["hours"] == []
    assert aftersales["tags"] == ["售后", "投诉-*"] and aftersales["kf_account"] == "aftersales@chatshop"
    assert aftersales["closed_dates"] == ["2026-10-01"] and aftersales["always_open"] is False
    assert aftersales["hours"][0] == {"day": "mon", "intervals": ["09:00-12:00", "13:30-24:00"]}
    assert aftersales["hours"][5] == {"day": "sat", "intervals": ["10:00-18:00"]}
    assert aftersales["hours"][6] == {"day": "sun", "intervals": []}
    assert page["timezone"] == "Asia/Shanghai"

    assert page["kb"]["faqs"] > 50 and page["kb"]["in_force"] is True and page["kb"]["last_error"] is None


def test_a_broken_rules_file_shows_its_error_and_the_last_good_rules_stay(shop: LiveServer, rules_path: Path) -> None:
    make_staff(shop, "boss", Role.ADMIN, groups=())
    with shop.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(shop, 'boss')}"
        good = rules_of(http)["tag_rules"]
        rules_path.write_text("rules:\n  - when: sometimes\n    add: 老客户\n", encoding="utf-8")

        broken = wait_until(lambda: rules_of(http)["tag_rules"], lambda tags: tags["last_error"] is not None)

        assert broken["last_error"].startswith(f"{rules_path}:2: `when:` must be one of")
        assert "(got 'sometimes')" in broken["last_error"]
        assert broken["rules"] == good["rules"] and broken["loaded_at"] == good["loaded_at"]
        # Fixed again: the new rules are in force and the error is gone
        rules_path.write_text("rules:\n  - when: order_paid\n    add: 老客户\n", encoding="utf-8")
        fixed = wait_until(lambda: rules_of(http)["tag_rules"], lambda tags: tags["last_error"] is None)
        assert [rule["add"] for rule in fixed["rules"]] == [["老客户"]]
        assert fixed["loaded_at"] > good["loaded_at"]
