"""`chatshop staff add/list/disable/token`: the password only from CHATSHOP_STAFF_PASSWORD or a prompt,
tokens printed once and stored as hashes, refusals as one line and exit status 1."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from chatshop.cli import main
from staff.models import StaffMember, StaffToken
from storage.db import make_session_factory, open_engine

PASSWORD = "a long enough password"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file with its own database; only it (and the password variable) speaks."""
    for name in list(os.environ):
        if name.startswith("CHATSHOP__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHATSHOP_STAFF_PASSWORD", PASSWORD)
    path = tmp_path / "shop.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'staff.db'}\n", encoding="utf-8")
    return path


def staff(config: Path, *args: str) -> int:
    return main(["--config", str(config), "staff", *args])


def stored(config: Path) -> tuple[list[StaffMember], list[StaffToken]]:
    engine = open_engine(f"sqlite:///{config.parent / 'staff.db'}")
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(StaffMember))), list(session.scalars(select(StaffToken)))
    finally:
        engine.dispose()


def test_add_and_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert staff(config, "add", "Wang", "--role", "agent", "--group", "presale", "--group", "aftersale",
                 "--max-chats", "4", "--display-name", "小王") == 0
    assert staff(config, "add", "boss", "--role", "admin") == 0
    assert staff(config, "list") == 0
    out = capsys.readouterr().out
    assert "added wang (agent)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:]}
    assert rows["wang"] == ["wang", "agent", "offline", "4", "active", "aftersale,presale"]
    assert rows["boss"][:5] == ["boss", "admin", "offline", "5", "active"]
    members, _ = stored(config)
    wang = next(m for m in members if m.username == "wang")
    assert wang.display_name == "小王" and wang.password_hash.startswith("$argon2id$")
    assert PASSWORD not in wang.password_hash


def test_a_password_argument_is_refused(config: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        staff(config, "add", "li", "--role", "agent", "--password", "on the command line")
    assert stopped.value.code == 2
    assert not (config.parent / "staff.db").exists()  # refused before anything ran


def test_without_the_variable_and_no_terminal_nothing_is_added(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CHATSHOP_STAFF_PASSWORD")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))  # piped input is not a prompt
    assert staff(config, "add", "li", "--role", "agent") == 1
    assert "CHATSHOP_STAFF_PASSWORD" in capsys.readouterr().err
    assert not (config.parent / "staff.db").exists()  # asked for before the database is touched


@pytest.mark.parametrize(("args", "code"), [
    (["--role", "agent", "--max-chats", "0"], "INVALID_INPUT"),
    (["--role", "agent", "--group", "bad group!"], "INVALID_INPUT"),
])
def test_refusals_are_one_line_and_status_1(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: str,
) -> None:
    assert staff(config, "add", "li", *args) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"chatshop: {code}: ")
    assert stored(config)[0] == []


def test_short_passwords_and_duplicates_are_refused(
    config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert staff(config, "add", "li", "--role", "agent") == 0
    assert staff(config, "add", "LI", "--role", "agent") == 1
    assert "STAFF_EXISTS" in capsys.readouterr().err
    monkeypatch.setenv("CHATSHOP_STAFF_PASSWORD", "short")
    assert staff(config, "add", "zhao", "--role", "agent") == 1
    assert "password: at least 10 characters" in capsys.readouterr().err


def test_token_is_printed_once_and_stored_as_a_hash(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert staff(config, "add", "qian", "--role", "marketer") == 0
    capsys.readouterr()
    assert staff(config, "token", "qian") == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("cst_") and len(token) > 40
    _, tokens = stored(config)
    assert [t.token_hash for t in tokens] == [hashlib.sha256(token.encode()).hexdigest()]
    assert staff(config, "token", "nobody") == 1
    assert "STAFF_NOT_FOUND" in capsys.readouterr().err


def test_disable_revokes_tokens_and_refuses_new_ones(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert staff(config, "add", "sun", "--role", "agent") == 0
    assert staff(config, "token", "sun") == 0
    assert staff(config, "disable", "sun") == 0
    assert staff(config, "list") == 0
    assert "disabled" in capsys.readouterr().out.splitlines()[-1]
    members, tokens = stored(config)
    assert members[0].disabled and all(t.revoked_at is not None for t in tokens)
    assert staff(config, "token", "sun") == 1


def test_the_installed_command_reads_the_password_from_the_environment(config: Path) -> None:
    environ = {name: value for name, value in os.environ.items() if not name.startswith("CHATSHOP__")}
    done = subprocess.run(
        [sys.executable, "-m", "chatshop.cli", "--config", str(config), "staff", "add", "zhou", "--role", "agent"],
        capture_output=True, text=True, timeout=120, env=environ | {"CHATSHOP_STAFF_PASSWORD": PASSWORD},
        stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "added zhou (agent)" in done.stdout and PASSWORD not in done.stdout + done.stderr
    assert [m.username for m in stored(config)[0]] == ["zhou"]
