"""`chatshop campaign ...`, `chatshop report reminders` and `chatshop outreach templates` through main():
a draft with its audience split by credit and opt-out, every state change recorded as made by `cli:<user>`,
a campaign sent from the command's own process through a live sandbox, refusals as one line and exit
status 1, the reminders' lift against the holdout, and the template registry listed or checked."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel, Customer
from bot.outreach.consent import record_consents
from bot.outreach.models import (
    CampaignEvent,
    CartReminder,
    ConsentResult,
    OptOut,
    ReminderState,
    SubscribeCredit,
)
from bot.outreach.templates import load_templates
from chatshop.cli import main
from commerce.models import Order
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.commerce import checkout
from tests.support.sandbox_client import SandboxCustomer

TEMPLATES = Path(__file__).parent.parent.parent / "chatshop" / "demo" / "subscribe_templates.yaml"
ARRIVAL = "sbx_mp_new_arrival"
DATA = "thing1=冬季上新,thing2=羊毛大衣新款到店，会员九折,time3=2026-12-10 10:00"
BY = f"cli:{getpass.getuser()}"


@pytest.fixture
def cli_env(empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", empty_database)
    monkeypatch.setenv("CHATSHOP__OUTREACH__TEMPLATES_PATH", str(TEMPLATES))
    monkeypatch.setenv("CHATSHOP__SANDBOX__CREDENTIALS_PATH", str(tmp_path / "sandbox-credentials.json"))
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")


def customer(factory: sessionmaker[Session], openid: str, *tags: str, credits: int = 0, opted_out: bool = False,
             channel: Channel = Channel.MP) -> int:
    with transaction(factory) as session:
        row = Customer(channel=channel, openid=openid, created_at=utcnow())
        session.add(row)
        session.flush()
        for name in tags:
            tag_customer(session, row.id, name=name, source=TagSource.STAFF, set_by="staff:test", now=utcnow())
        for _ in range(credits):
            record_consents(session, customer_id=row.id, results={ARRIVAL: ConsentResult.ACCEPT}, source="test",
                            registry=load_templates(TEMPLATES), now=utcnow())
        if opted_out:
            session.add(OptOut(customer_id=row.id, at=utcnow()))
        return row.id


def create(*extra: str) -> int:
    return main(["campaign", "create", "--name", "冬季上新", "--audience", "意向客户", "--template", ARRIVAL,
                 "--data", DATA, *extra])


def test_create_prints_the_id_and_the_audience_split(
    cli_env: None, factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str],
) -> None:
    # Given five mini-program customers tagged 意向客户 (three with a credit, one opted out) and others not
    for i in range(3):
        customer(factory, f"o_cli_credit_{i}", "意向客户", credits=1)
    customer(factory, "o_cli_none", "意向客户")
    customer(factory, "o_cli_out", "意向客户", credits=1, opted_out=True)
    customer(factory, "o_cli_untagged", credits=1)
    customer(factory, "o_cli_oa", "意向客户", channel=Channel.OA)  # the template reaches mini-program users only
    # When a draft is created for them
    assert create("--holdout", "20", "--throttle", "50") == 0
    out = capsys.readouterr().out
    # Then its id and the split are printed, and it is a draft written by the command's user
    assert "campaign 1 created (draft)" in out
    assert "audience 5: 3 with credit, 1 without, 1 opted out" in out
    with factory() as session:
        [event] = session.scalars(select(CampaignEvent)).all()
    assert (event.to_state, event.by) == ("draft", BY)


def test_data_as_json_and_as_repeated_pairs_are_the_same(
    cli_env: None, factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str],
) -> None:
    as_json = json.dumps({"thing1": "冬季上新", "thing2": "羊毛大衣新款到店，会员九折", "time3": "2026-12-10 10:00"},
                         ensure_ascii=False)
    assert main(["campaign", "create", "--name", "a", "--audience", "意向客户", "--template", ARRIVAL,
                 "--data-json", as_json]) == 0
    assert main(["campaign", "create", "--name", "b", "--audience", "意向客户", "--template", ARRIVAL,
                 "--data", "thing1=冬季上新", "--data", "thing2=羊毛大衣新款到店，会员九折,time3=2026-12-10 10:00"],
                ) == 0
    assert main(["campaign", "report", "1", "--json"]) == 0
    capsys.readouterr()
    assert main(["campaign", "list"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[0], row[1], row[-1]) for row in rows] == [("2", "draft", "b"), ("1", "draft", "a")]


@pytest.mark.parametrize(("args", "expected"), [
    (["--data", "thing1=冬季上新,thing2=新款,time3=明天上午"], "INVALID_CAMPAIGN: time3: a time such as"),
    (["--data", "thing1=冬季上新,thing2=新款"], "INVALID_CAMPAIGN: time3: must not be empty"),
    (["--data", "冬季上新"], "INVALID_INPUT: --data: '冬季上新' is not field=value"),
    (["--data-json", "[1]"], "INVALID_INPUT: --data-json: expected an object"),
    (["--data", DATA, "--at", "next friday"], "INVALID_INPUT: --at: 'next friday' is not an ISO 8601 time"),
    (["--data", DATA, "--holdout", "80"], "INVALID_CAMPAIGN: holdout must be 0-50 %"),
])
def test_a_bad_draft_is_one_line_and_exit_status_1(
    cli_env: None, factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str], args: list[str],
    expected: str,
) -> None:
    code = main(["campaign", "create", "--name", "x", "--audience", "意向客户", "--template", ARRIVAL, *args])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"chatshop: {expected}") and len(err.strip().splitlines()) == 1, err
    assert main(["campaign", "create", "--name", "x", "--audience", "意向客户 AND (", "--template", ARRIVAL,
                 "--data", DATA]) == 1
    assert main(["campaign", "create", "--name", "x", "--audience", "意向客户", "--template", "sbx_mp_order_paid",
                 "--data", DATA]) == 1  # not a marketing template
    assert "INVALID_CAMPAIGN" in capsys.readouterr().err
    assert main(["campaign", "list"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # the header alone: nothing was written


def test_state_changes_are_recorded_as_the_commands_user(
    cli_env: None, factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str],
) -> None:
    assert create() == 0
    assert main(["campaign", "schedule", "1", "--at", "2099-01-01T10:00"]) == 0
    assert "scheduled for 2099-01-01 10:00 store time (2099-01-01T02:00:00+00:00)" in capsys.readouterr().out
    assert main(["campaign", "send", "1"]) == 1  # not due
    assert "CAMPAIGN_STATE: campaign 1 is scheduled for 2099-01-01T02:00:00+00:00; it is not due yet" in (
        capsys.readouterr().err)
    assert main(["campaign", "pause", "1"]) == 0
    assert main(["campaign", "resume", "1"]) == 0
    assert main(["campaign", "cancel", "1"]) == 0
    assert "campaign 1 is cancelled" in capsys.readouterr().out
    assert main(["campaign", "resume", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("chatshop: CAMPAIGN_STATE: ") and "cancelled" in err
    assert main(["campaign", "pause", "7"]) == 1
    assert capsys.readouterr().err.strip() == "chatshop: CAMPAIGN_NOT_FOUND: no campaign 7"
    with factory() as session:
        events = [(e.from_state, e.to_state, e.by) for e in session.scalars(
            select(CampaignEvent).order_by(CampaignEvent.id))]
    assert events == [(None, "draft", BY), ("draft", "scheduled", BY), ("scheduled", "paused", BY),
                      ("paused", "scheduled", BY), ("scheduled", "cancelled", BY)]


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer], cli_env: None, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """A live server whose sandbox stands in for WeChat; its scheduler is off, so only the command sends."""
    server = server_factory({"CHATSHOP__SCHEDULER__ENABLED": "false",
                             "CHATSHOP__OUTREACH__TEMPLATES_PATH": str(TEMPLATES)})
    monkeypatch.setenv("CHATSHOP__WECHAT__API_BASE_URL", server.base_url + "/sandbox/api/")
    return server


def test_send_delivers_each_recipient_once_from_the_commands_process(
    shop: LiveServer, capsys: pytest.CaptureFixture[str],
) -> None:
    # Given six customers in the audience: four consented (in WeChat and in our ledger), one did not,
    # one is in WeChat's books but not ours (never sent: the ledger decides)
    factory = shop.services.factory
    with httpx.Client(base_url=shop.base_url + "/sandbox") as sandbox:
        for i in range(6):
            customer(factory, f"o_cli_send_{i}", "意向客户", credits=1 if i < 4 else 0)
            if i != 4:
                sandbox.post("/control/consent", json={"account": "mp", "openid": f"o_cli_send_{i}",
                                                       "template_id": ARRIVAL}).raise_for_status()
    assert create() == 0
    assert main(["campaign", "schedule", "1"]) == 0
    capsys.readouterr()
    # When the command sends it
    assert main(["campaign", "send", "1"]) == 0
    # Then it started the due campaign, sent the four, and says so
    captured = capsys.readouterr()
    assert "campaign 1 started: 6 recipients planned" in captured.err
    assert "campaign 1 is done: 4 sent, 0 refused, 0 failed, 0 in doubt, 2 skipped" in captured.out
    for i in range(6):
        received = [e for e in SandboxCustomer(shop, f"o_cli_send_{i}", account="mp").transcript()
                    if e["via"] == "subscribe"]
        assert len(received) == (1 if i < 4 else 0), i
    with factory() as session:
        assert session.scalar(select(SubscribeCredit.credits).where(SubscribeCredit.template_id == ARRIVAL)
                              .limit(1)) == 0
        events = [(e.to_state, e.by) for e in session.scalars(select(CampaignEvent).order_by(CampaignEvent.id))]
    assert events[-2:] == [("sending", BY), ("done", "scheduler")]
    # And the report has it; sending a done campaign again is refused
    assert main(["campaign", "report", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["state"], report["audience"], report["sent"], report["skipped"]) == (
        "done", 6, 4, {"no credit": 2})
    assert main(["campaign", "send", "1"]) == 1
    assert "only a scheduled or sending campaign can be sent" in capsys.readouterr().err


def test_reminders_report_sets_the_reminded_against_the_holdout(
    cli_env: None, store: sessionmaker[Session], capsys: pytest.CaptureFixture[str],
) -> None:
    # Given four reminded carts (one converted: ¥99.00 paid the next day) and two held out (none converted)
    now = utcnow()
    reminded = now - timedelta(days=3)
    ids = {openid: customer(store, openid) for openid in ("o_r1", "o_r2", "o_r3", "o_r4", "o_h1", "o_h2")}
    with transaction(store) as session:
        for openid, customer_id in ids.items():
            state = ReminderState.HOLDOUT if openid.startswith("o_h") else ReminderState.SENT
            session.add(CartReminder(customer_id=customer_id, openid=openid, cart_touched_at=reminded,
                                     sku_id="shirt-test-white-L", cart_fen=9900, state=state,
                                     holdout=state is ReminderState.HOLDOUT, created_at=reminded, due_at=reminded))
    order_no = checkout(store, "o_r1", {"shirt-test-white-L": 1})
    with transaction(store) as session:  # the report reads when it was paid; paying is commerce's tests' business
        session.execute(update(Order).where(Order.order_no == order_no)
                        .values(paid_at=reminded + timedelta(days=1), amount_fen=9900))
    # When the report is asked for the last 30 days
    assert main(["report", "reminders", "--since", "30d"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # Then each group's carts, conversions, revenue and rate, and the lift
    assert lines[2].split() == ["reminded", "4", "1", "¥99.00", "25.0%"]
    assert lines[3].split() == ["holdout", "2", "0", "¥0.00", "0.0%"]
    assert lines[4] == "lift: +25.0 percentage points"
    assert main(["report", "reminders", "--since", "1s"]) == 0
    assert "lift: - (no holdout carts in the period)" in capsys.readouterr().out
    assert main(["report", "reminders", "--since", "a while"]) == 1
    assert "INVALID_INPUT: --since:" in capsys.readouterr().err


def test_templates_are_listed_and_a_file_is_checked_without_being_applied(
    cli_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["outreach", "templates"]) == 0
    out = capsys.readouterr().out
    arrival = next(line for line in out.splitlines() if line.startswith(ARRIVAL))
    assert arrival.split()[1:5] == ["上新通知", "one_time", "marketing", "mp"]
    assert "thing1 活动名称, thing2 活动内容, time3 活动时间" in arrival
    bad = tmp_path / "templates.yaml"
    bad.write_text("templates:\n"
                   "  - {id: t1, title: 上新, purpose: marketing, fields: {thing1: {label: 名称, value: x}}}\n"
                   "  - {id: t2, title: 上新, purpose: nonsense, fields: {thing1: {label: 名称, value: x}}}\n"
                   "  - {id: t1, title: 上新, purpose: marketing, fields: {colour1: {label: 颜色, value: x}}}\n",
                   encoding="utf-8")
    assert main(["outreach", "templates", "--check", str(bad)]) == 1
    problems = capsys.readouterr().err.splitlines()
    assert len(problems) == 2 and all(line.startswith(f"chatshop: {bad}: template ") for line in problems)
    assert "'nonsense'" in problems[0] and "'colour1' is not a WeChat field key" in problems[1]
    assert main(["outreach", "templates", "--check", str(TEMPLATES)]) == 0
    assert f"{TEMPLATES}: 9 templates, no problems" in capsys.readouterr().out


def test_no_registry_is_one_line(cli_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CHATSHOP__OUTREACH__TEMPLATES_PATH", str(tmp_path / "missing.yaml"))
    assert create() == 1
    assert capsys.readouterr().err.strip() == (
        f"chatshop: INVALID_TEMPLATES: {tmp_path / 'missing.yaml'}: no template registry "
        "(run `chatshop seed` for the demo store's)")


def test_schedule_wait_follows_the_schedulers_sending_until_done(
    server_factory: Callable[..., LiveServer], cli_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a server whose scheduler sends campaigns, and two customers who consented
    shop = server_factory({"CHATSHOP__OUTREACH__TEMPLATES_PATH": str(TEMPLATES),
                           "CHATSHOP__OUTREACH__CAMPAIGN_INTERVAL_S": "0.5"})
    with httpx.Client(base_url=shop.base_url + "/sandbox") as sandbox:
        for i in range(2):
            customer(shop.services.factory, f"o_cli_wait_{i}", "意向客户", credits=1)
            sandbox.post("/control/consent", json={"account": "mp", "openid": f"o_cli_wait_{i}",
                                                   "template_id": ARRIVAL}).raise_for_status()
    assert create() == 0
    # When it is scheduled with --wait
    assert main(["campaign", "schedule", "1", "--wait"]) == 0
    # Then the command returns once the server has sent it
    assert "campaign 1 is done: 2 sent" in capsys.readouterr().out
    for i in range(2):
        assert [e for e in SandboxCustomer(shop, f"o_cli_wait_{i}", account="mp").transcript()
                if e["via"] == "subscribe"], i
