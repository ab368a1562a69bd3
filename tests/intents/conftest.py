"""Fixtures of the intents tests that run the `chatshop` command on a knowledge base."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import DEMO_KB


@pytest.fixture
def kb_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """kb.path of the `chatshop` command: a copy of the demo KB in a temporary directory."""
    path = tmp_path / "var" / "kb.yaml"
    path.parent.mkdir()
    shutil.copyfile(DEMO_KB, path)
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(path))
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")
    return path
