"""The `chatshop` command line: --config before or after the subcommand, and a port already in use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatshop.cli import main
from tests.support import DEMO_KB

ORDERS = ["before", "after"]


def with_config(config: Path, order: str, *command: str) -> list[str]:
    """`chatshop --config F <command>` or `chatshop <command> --config F`."""
    return ["--config", str(config), *command] if order == "before" else [*command, "--config", str(config)]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the config file speaks: no CHATSHOP__ variable from the environment running the tests."""
    for name in list(os.environ):
        if name.startswith("CHATSHOP__"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("order", ORDERS)
def test_db_upgrade_uses_the_config_files_database(no_overrides: None, tmp_path: Path, order: str) -> None:
    database = tmp_path / "from-config.db"
    config = write_config(tmp_path / "shop.yaml", f"database:\n  url: sqlite:///{database}\n")
    assert main(with_config(config, order, "db", "upgrade")) == 0
    assert database.exists() and database.stat().st_size > 0


@pytest.mark.parametrize("order", ORDERS)
def test_serve_stops_on_the_config_files_bad_setting(
    no_overrides: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, order: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Were the file ignored, serve would stop at the missing knowledge base instead, never serving
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", f"sqlite:///{tmp_path / 'shop.db'}")
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(tmp_path / "missing.yaml"))
    config = write_config(tmp_path / "shop.yaml", "wechat:\n  reply_budget_ms: -5\n")
    assert main(with_config(config, order, "serve", "--port", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert err == "chatshop: configuration error: wechat.reply_budget_ms: Input should be greater than 0 (got -5)"


def test_a_port_in_use_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    # Given something already listening on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path / "shop.yaml", (
            f"database:\n  url: sqlite:///{tmp_path / 'shop.db'}\n"
            f"kb:\n  path: {DEMO_KB}\n"
            f"sandbox:\n  credentials_path: {tmp_path / 'sandbox-credentials.json'}\n"
        ))
        environ = {name: value for name, value in os.environ.items() if not name.startswith("CHATSHOP__")}
        # When chatshop is asked to serve on it
        done = subprocess.run(
            [sys.executable, "-m", "chatshop.cli", "--config", str(config), "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=120, env=environ, check=False,
        )
    # Then it says so in one line, with what to do, and exits 1 without a traceback
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"chatshop: port {port} is in use; stop what uses it or run make run PORT={port + 1} "
        f"(chatshop serve --port {port + 1})"
    )
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr
