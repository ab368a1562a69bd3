"""`chatshop actions serve` as a Rasa action server: real HTTP with Rasa's request JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import DEMO_KB, LOCAL_TLS, free_port

ROOT = Path(__file__).parents[2]
DEMO_FAQS = {faq["id"]: faq for faq in yaml.safe_load(DEMO_KB.read_text(encoding="utf-8"))["faqs"]}
DOMAIN = {"forms": {"size_advice_form": {"required_slots": ["height", "weight"]}}, "slots": {}}


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    database = tmp_path_factory.mktemp("actions") / "empty.db"
    environ = {**os.environ, "CHATSHOP__KB__PATH": str(DEMO_KB), "CHATSHOP__DATABASE__URL": f"sqlite:///{database}",
               "CHATSHOP__LOGGING__LEVEL": "WARNING"}
    command = [sys.executable, "-m", "chatshop.cli", "actions", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=environ, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"action server exited: {output}")
        try:
            if httpx.get(base + "/health", verify=LOCAL_TLS, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("action server did not start")


def action_call(action: str, text: str, intent: str, *, entities: list[dict[str, Any]] | None = None,
                slots: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body Rasa posts to its action endpoint."""
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": entities or [],
              "intent_ranking": [{"name": intent, "confidence": 0.95}]}
    return {
        "next_action": action,
        "sender_id": "wx_customer",
        "version": "3.21.0",
        "tracker": {
            "sender_id": "wx_customer",
            "slots": slots or {},
            "latest_message": latest,
            "events": [{"event": "action", "name": "action_listen"},
                       {"event": "user", "text": text, "parse_data": latest}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": DOMAIN,
    }


def test_health_and_the_list_of_actions(action_server: str) -> None:
    assert httpx.get(action_server + "/health").json() == {"status": "ok"}
    names = {item["name"] for item in httpx.get(action_server + "/actions").json()}
    assert {"action_answer_faq", "action_clarify", "action_ask_rephrase", "action_request_human",
            "validate_size_advice_form", "action_recommend_size"} <= names


def test_answer_faq_over_the_webhook(action_server: str) -> None:
    faq = DEMO_FAQS["shipping_fee"]
    response = httpx.post(action_server + "/webhook", json=action_call("action_answer_faq", faq["question"], "faq"))
    assert response.status_code == 200
    body = response.json()
    assert body["events"] == []
    assert [r["text"] for r in body["responses"]] == [faq["answer"].strip()]


def test_request_human_returns_the_handoff_slots(action_server: str) -> None:
    response = httpx.post(action_server + "/webhook", json=action_call("action_request_human", "转人工", "ask_human"))
    events = response.json()["events"]
    assert [(e["event"], e["name"]) for e in events] == [("slot", "handoff_requested_at"), ("slot", "handoff_reason")]
    assert events[1]["value"] == "asked"


def test_the_stores_order_action_is_served_on_the_stores_database(action_server: str) -> None:
    # The action server migrates its database and runs the store's actions (orders) beside the language ones
    body = httpx.post(action_server + "/webhook",
                      json=action_call("action_handle_request", "我的快递到哪了", "track_package")).json()
    assert "订单号" in body["responses"][0]["text"]
    events = [(e["event"], e["name"], e["value"]) for e in body["events"]]
    assert events == [("slot", "pending_request", "track_package")]


def test_size_form_validation_over_the_webhook(action_server: str) -> None:
    entities = [{"entity": "height", "value": 165, "start": 0, "end": 5},
                {"entity": "weight", "value": 50, "start": 6, "end": 10}]
    call = action_call("validate_size_advice_form", "165cm 50kg", "size_advice", entities=entities,
                       slots={"requested_slot": None})
    body = httpx.post(action_server + "/webhook", json=call).json()
    assert {(e["name"], e["value"]) for e in body["events"]} == {("height", 165.0), ("weight", 50.0)}
    recommend = action_call("action_recommend_size", "", "size_advice", slots={"height": 165, "weight": 50})
    body = httpx.post(action_server + "/webhook", json=recommend).json()
    assert "M 码" in body["responses"][0]["text"]


def test_an_unknown_action_is_a_404(action_server: str) -> None:
    response = httpx.post(action_server + "/webhook", json=action_call("action_unknown", "你好", "greet"))
    assert response.status_code == 404
    assert response.json()["action_name"] == "action_unknown"


def test_the_domain_command_prints_what_a_rasa_project_must_declare() -> None:
    command = [sys.executable, "-m", "chatshop.cli", "actions", "domain"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    domain = yaml.safe_load(done.stdout)
    assert domain["forms"] == {"size_advice_form": {"required_slots": ["height", "weight"]}}
    assert {"height", "weight", "handoff_requested_at"} <= domain["slots"].keys()
    assert "action_request_human" in domain["actions"]
