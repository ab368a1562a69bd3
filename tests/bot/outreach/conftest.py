"""One live server per test module for outreach's tests (each test uses customers of its own), with
outreach's jobs off so each test decides when notices, reminders and campaigns run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import LiveServer, empty_tables, start_server


@pytest.fixture(scope="module")
def quiet_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    empty_tables(database_url)
    server = start_server(database_url, tmp_path_factory.mktemp("outreach"),
                          {"CHATSHOP__SCHEDULER__ENABLED": "false"})
    yield server
    server.stop()
