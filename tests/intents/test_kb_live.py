"""The knowledge base in a running service: `kb import` takes effect without a restart, and the
questions customers could not get answered are recorded and grouped by `kb gaps`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.gaps import choices_since, note_choice, record_unanswered
from bot.models import Channel, UnansweredQuestion
from chatshop.cli import main
from storage.clock import utcnow
from storage.db import make_session_factory, open_engine, transaction
from tests.support import DEMO_KB, LiveServer, fixture_path
from tests.support.sandbox_client import SandboxCustomer, wait_until

TRADE_IN_ANSWER = "支持以旧换新：旧衣物捐赠后可领20元无门槛券，每个账号每月一次。"


@pytest.fixture
def live_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kb.yaml"
    shutil.copyfile(DEMO_KB, path)
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(path))
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")
    return path


def test_kb_import_changes_the_answers_of_a_running_service(
    server_factory: Callable[..., LiveServer], live_kb: Path
) -> None:
    # Given a running service whose KB says nothing about trade-ins
    server = server_factory({"CHATSHOP__KB__PATH": str(live_kb)})
    customer = SandboxCustomer(server, "o_trade_in")
    before = customer.says("你们有以旧换新活动吗")["reply"] or {}  # None: nothing passive (a menu, later)
    assert before.get("content") != TRADE_IN_ANSWER
    # When staff import a spreadsheet that adds the FAQ (no restart)
    assert main(["kb", "import", str(fixture_path("kb/import_trade_in.csv"))]) == 0

    # Then the next encrypted push gets the new answer, once the file is reloaded (each try from a new
    # customer: one asking the same unanswered question again and again is handed to a person)
    tries = iter(range(1000))

    def ask() -> dict[str, Any]:
        asking = SandboxCustomer(server, f"o_trade_in_{next(tries)}")
        reply: dict[str, Any] = asking.says("你们有以旧换新活动吗")["reply"] or {}
        return reply

    after = wait_until(ask, lambda reply: reply.get("content") == TRADE_IN_ANSWER, 10)
    assert after["msgtype"] == "text"


def test_unanswered_questions_are_recorded_and_grouped_by_kb_gaps(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given customers asking about things the KB does not cover, several about the same thing
    questions = ["能寄到俄罗斯吗", "可以发俄罗斯吗", "俄罗斯能寄吗", "你们卖宠物用品吗"]
    for number, text in enumerate(questions):
        SandboxCustomer(server, f"o_gap_{number}").says(text)

    # Then each is stored as an unanswered question of its conversation
    def stored() -> list[UnansweredQuestion]:
        with server.services.factory() as session:
            return list(session.scalars(select(UnansweredQuestion).order_by(UnansweredQuestion.id)))

    rows = wait_until(stored, lambda rows: len(rows) >= len(questions), 10)
    assert sorted(row.text for row in rows) == sorted(questions)
    assert {row.outcome for row in rows} <= {"fallback", "suggest"}
    assert {row.openid for row in rows} == {f"o_gap_{n}" for n in range(len(questions))}
    assert all(row.channel == "oa" and row.created_at.tzinfo is not None for row in rows)

    # And `chatshop kb gaps --json` groups them, largest group first, with counts and examples
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", server.settings.database.url)
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")
    capsys.readouterr()
    assert main(["kb", "gaps", "--since", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["questions"] == len(questions)
    assert [group["count"] for group in report["groups"]] == [3, 1]
    assert set(report["groups"][0]["examples"]) == set(questions[:3])
    assert "俄罗斯" in report["groups"][0]["keywords"]
    assert report["groups"][1]["examples"] == ["你们卖宠物用品吗"]

    # And the table form says the same for people
    assert main(["kb", "gaps"]) == 0
    table = capsys.readouterr().out
    assert "4 unanswered questions" in table and "3×" in table and "能寄到俄罗斯吗" in table


def test_record_unanswered_refuses_bad_input_and_stores_nothing(
    empty_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_engine(empty_database)
    factory = make_session_factory(engine)
    try:
        bad = [
            {"channel": "sms", "openid": "o1", "text": "在吗", "outcome": "fallback"},
            {"channel": "oa", "openid": "", "text": "在吗", "outcome": "fallback"},
            {"channel": "oa", "openid": "o1", "text": "   ", "outcome": "fallback"},
            {"channel": "oa", "openid": "o1", "text": "在吗", "outcome": "answer"},
        ]
        for arguments in bad:
            with pytest.raises(ValueError), transaction(factory) as session:
                record_unanswered(session, **arguments)
        assert len(caplog.records) == len(bad)
        with transaction(factory) as session:
            record_unanswered(session, channel="mp", openid="o1", text=" 能开发票吗 ", outcome="suggest")
        with factory() as session:
            [row] = session.scalars(select(UnansweredQuestion))
            assert (row.channel, row.text, row.outcome) == ("mp", "能开发票吗", "suggest")
    finally:
        engine.dispose()


def test_kb_gaps_since_leaves_out_older_questions(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    engine = open_engine(empty_database)
    try:
        with transaction(make_session_factory(engine)) as session:
            session.add(UnansweredQuestion(channel="oa", openid="o1", text="能寄到俄罗斯吗", outcome="fallback",
                                           created_at=utcnow() - timedelta(days=10)))
            record_unanswered(session, channel="oa", openid="o2", text="你们卖宠物用品吗", outcome="fallback")
    finally:
        engine.dispose()
    _cli_on(monkeypatch, empty_database, tmp_path / "no-kb-yet.yaml")  # a new install: no hints
    assert main(["kb", "gaps", "--since", "7", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == {"questions": 1, "groups": [{"count": 1, "keywords": report["groups"][0]["keywords"],
                                                  "examples": ["你们卖宠物用品吗"], "chosen": [],
                                                  "closest_faq": None}]}


def test_kb_gaps_names_the_faq_a_gap_came_closest_to(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one question near an FAQ (shipping abroad, to a country the KB does not name) and one near none
    engine = open_engine(empty_database)
    try:
        with transaction(make_session_factory(engine)) as session:
            record_unanswered(session, channel="oa", openid="o1", text="能寄到俄罗斯吗", outcome="suggest")
            record_unanswered(session, channel="oa", openid="o2", text="你们卖宠物用品吗", outcome="fallback")
    finally:
        engine.dispose()
    _cli_on(monkeypatch, empty_database, DEMO_KB)
    # Then the report says which FAQ would take the first as a new phrasing, and nothing for the second
    assert main(["kb", "gaps", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    closest = {group["examples"][0]: group["closest_faq"] for group in report["groups"]}
    assert closest["你们卖宠物用品吗"] is None
    assert closest["能寄到俄罗斯吗"]["id"] == "shipping_overseas"
    assert closest["能寄到俄罗斯吗"]["score"] >= 0.3
    assert main(["kb", "gaps"]) == 0
    assert "closest FAQ: shipping_overseas" in capsys.readouterr().out


def test_a_menu_choice_marks_the_customers_latest_guess_of_the_day(empty_database: str) -> None:
    engine = open_engine(empty_database)
    factory = make_session_factory(engine)
    try:
        # Given a customer's questions: one guessed at two days ago, one guessed at now, one not understood
        # since, and another customer's guess
        with transaction(factory) as session:
            session.add(UnansweredQuestion(channel="oa", openid="o1", text="衣服", outcome="suggest",
                                           created_at=utcnow() - timedelta(days=2)))
            record_unanswered(session, channel="oa", openid="o1", text="能寄到俄罗斯吗", outcome="suggest")
            record_unanswered(session, channel="oa", openid="o1", text="你们卖宠物用品吗", outcome="fallback")
            record_unanswered(session, channel="oa", openid="o2", text="有没有男装", outcome="suggest")
        # When the customer taps an FAQ in a menu, and then another
        with engine.begin() as connection:
            assert note_choice(connection, channel=Channel.OA, openid="o1", faq_id="delivery_time")
        with engine.begin() as connection:
            assert note_choice(connection, channel=Channel.OA, openid="o1", faq_id="shipping_overseas")
            # (a customer with no recent guess, or the other channel, marks nothing)
            assert not note_choice(connection, channel=Channel.OA, openid="o3", faq_id="shipping_overseas")
            assert not note_choice(connection, channel=Channel.MP, openid="o1", faq_id="shipping_overseas")
            assert not note_choice(connection, channel=Channel.OA, openid="o1", faq_id="x" * 65)
        # Then only the day's guess holds the choice, the later tap's
        with factory() as session:
            assert choices_since(session, None) == [("能寄到俄罗斯吗", "shipping_overseas")]
            assert choices_since(session, utcnow() + timedelta(minutes=1)) == []
    finally:
        engine.dispose()


def test_kb_gaps_shows_what_customers_picked_from_the_menu(
    empty_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_engine(empty_database)
    try:
        with transaction(make_session_factory(engine)) as session:
            for openid, text in (("o1", "能寄到俄罗斯吗"), ("o2", "可以发俄罗斯吗")):
                record_unanswered(session, channel="oa", openid=openid, text=text, outcome="suggest")
        for openid in ("o1", "o2"):
            with engine.begin() as connection:
                note_choice(connection, channel=Channel.OA, openid=openid, faq_id="shipping_overseas")
    finally:
        engine.dispose()
    _cli_on(monkeypatch, empty_database, DEMO_KB)
    assert main(["kb", "gaps", "--json"]) == 0
    [group] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["groups"]
    assert group["chosen"] == [{"faq_id": "shipping_overseas", "times": 2}]
    assert main(["kb", "gaps"]) == 0
    assert "customers picked from the menu: shipping_overseas ×2" in capsys.readouterr().out


def _cli_on(monkeypatch: pytest.MonkeyPatch, database: str, kb: Path) -> None:
    """`chatshop kb ...` run in this process reads this database and KB file."""
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", database)
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(kb))
