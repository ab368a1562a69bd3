"""`chatshop keys`: a fresh key to put in the environment, how many values each key sealed, and a rotation
that re-seals in batches with its progress, stopped half-way and carried on; and the keys' absence stops
the CLI with one line unless the sandbox gives a development key."""

from __future__ import annotations

import base64
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chatshop import keys_cli
from chatshop.cli import main
from commerce.models import Order
from storage.clock import utcnow
from storage.db import make_session_factory, open_engine, transaction
from storage.sealing import Sealer, install_sealer, installed_sealer, key_id_of, parse_keys
from tests.support import TEST_DATA_KEYS

NEW_KEY = "k2:" + base64.b64encode(b"N" * 32).decode()
ORDERS = 5


@pytest.fixture
def cli_env(empty_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", empty_database)
    monkeypatch.setenv("CHATSHOP__SANDBOX__CREDENTIALS_PATH", str(tmp_path / "var" / "sandbox-credentials.json"))
    previous = installed_sealer()
    yield empty_database
    install_sealer(previous)  # the commands installed their own


def place_orders(database_url: str) -> list[str]:
    engine = open_engine(database_url)
    now = utcnow()
    numbers = [f"2026120500000000000{i}" for i in range(ORDERS)]
    with transaction(make_session_factory(engine)) as session:
        session.add_all(Order(order_no=no, openid="o_keys", status="paid", amount_fen=100, refunded_fen=0,
                              address={"name": "张三", "phone": f"1380000000{i}", "detail": "体育西路 1 号"},
                              description="T恤", created_at=now, expires_at=now + timedelta(hours=1))
                        for i, no in enumerate(numbers))
    engine.dispose()
    return numbers


def stored_key_ids(database_url: str) -> list[str]:
    engine = open_engine(database_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT CAST(address AS TEXT) FROM orders ORDER BY order_no").scalars()
        ids = [key_id_of(str(value).strip('"')) for value in rows]
    engine.dispose()
    return ids


def test_keys_new_prints_a_key_line_even_with_no_keys_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CHATSHOP__DATA__KEYS")
    monkeypatch.setenv("CHATSHOP__WECHAT__SANDBOX", "off")
    assert main(["keys", "new", "--id", "k20270101"]) == 0
    line = capsys.readouterr().out.strip()
    keys, current = parse_keys(line)
    assert current == "k20270101" and len(keys[current]) == 32
    assert main(["keys", "new", "--index"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32


def test_without_the_sandbox_a_missing_key_stops_the_cli_with_one_line(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CHATSHOP__DATA__KEYS")
    monkeypatch.setenv("CHATSHOP__WECHAT__SANDBOX", "off")
    assert main(["keys", "status"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "data.keys:" in error and "CHATSHOP__DATA__KEYS" in error
    # A malformed key is named, never shown
    monkeypatch.setenv("CHATSHOP__DATA__KEYS", "k1:" + base64.b64encode(b"short").decode())
    assert main(["keys", "status"]) == 2
    error = capsys.readouterr().err
    assert "data.keys: key 'k1' must be 32 bytes" in error and base64.b64encode(b"short").decode() not in error


def test_with_the_sandbox_a_development_key_is_made_once_under_var(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CHATSHOP__DATA__KEYS")
    monkeypatch.delenv("CHATSHOP__DATA__INDEX_KEY")
    monkeypatch.setenv("CHATSHOP__WECHAT__SANDBOX", "on")
    assert main(["keys", "status"]) == 0
    dev = tmp_path / "var" / "sandbox-data-keys.json"
    assert stat.S_IMODE(dev.stat().st_mode) == 0o600
    first = installed_sealer().current, dev.read_text()
    assert main(["keys", "status"]) == 0
    assert (installed_sealer().current, dev.read_text()) == first
    assert "current key: dev1" in capsys.readouterr().out


def test_rotation_stopped_half_way_carries_on_and_leaves_everything_under_the_new_key(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # Given orders sealed under the tests' key, and a new key put first, the old one kept after it
    numbers = place_orders(cli_env)
    monkeypatch.setenv("CHATSHOP__DATA__KEYS", f"{NEW_KEY},{TEST_DATA_KEYS}")
    assert main(["keys", "status"]) == 0
    assert f"orders.address: k2 0, test1 {ORDERS}" in capsys.readouterr().out
    # When a rotation in batches of 2 is stopped after its first batch (Ctrl-C, or killed)
    real = keys_cli.reseal_batch
    calls = []

    def stopped_after_one(*args: Any, **kwargs: Any) -> tuple[int, Any]:
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(keys_cli, "reseal_batch", stopped_after_one)
    assert main(["keys", "rotate", "--batch", "2"]) == 130
    out = capsys.readouterr()
    assert f"orders: 2/{ORDERS}" in out.out and "run `chatshop keys rotate` again" in out.err
    assert sorted(stored_key_ids(cli_env)) == ["k2", "k2", "test1", "test1", "test1"]
    # Then run again, it carries on with what is left, printing its progress, until every value is under k2
    monkeypatch.setattr(keys_cli, "reseal_batch", real)
    assert main(["keys", "rotate", "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("orders:")] == [
        "orders: 0/3", "orders: 2/3", "orders: 3/3"]
    assert stored_key_ids(cli_env) == ["k2"] * ORDERS
    # And with the old key dropped, every address still opens, whole
    new_keys, _ = parse_keys(NEW_KEY)
    install_sealer(Sealer(new_keys, current="k2", index_key=installed_sealer()._index_key))
    engine = open_engine(cli_env)
    with make_session_factory(engine)() as session:
        phones = [order.address["phone"] for order in session.scalars(select(Order).order_by(Order.order_no))]
    engine.dispose()
    assert phones == [f"1380000000{i}" for i in range(len(numbers))]
