"""Shared fixtures: a migrated database (SQLite, or PostgreSQL from CHATSHOP_TEST_DATABASE_URL)
emptied before each test, and live servers speaking real HTTP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from chatshop.database import upgrade_database
from storage.db import open_engine
from storage.sealing import Sealer, install_sealer
from tests.support import TEST_DATA_KEYS, TEST_INDEX_KEY, LiveServer, empty_tables, sealer_for_tests, start_server

# WeChat Pay (merchant keys, the sandbox's pay gateway, a notification receiver), the commerce core's
# session factory and small catalog, and a live shop with WeChat Pay (tests/support/*_fixtures.py).
pytest_plugins = ["tests.support.pay_fixtures", "tests.support.commerce_fixtures", "tests.support.shop_fixtures"]


@pytest.fixture(scope="session", autouse=True)
def data_keys() -> Iterator[Sealer]:
    """Personal data is sealed at rest: every test runs with the tests' keys installed (a server a test
    starts installs the same ones)."""
    sealer = sealer_for_tests()
    previous = install_sealer(sealer)
    # Commands run in-process (chatshop.cli.main) or as child processes read the same keys from the environment.
    keys = {"CHATSHOP__DATA__KEYS": TEST_DATA_KEYS, "CHATSHOP__DATA__INDEX_KEY": TEST_INDEX_KEY}
    before = {name: os.environ.get(name) for name in keys}
    os.environ.update(keys)
    yield sealer
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    install_sealer(previous)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("CHATSHOP_TEST_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'chatshop-test.db'}"
    )
    engine = open_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:  # start from nothing: migrations must build it all
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade_database(engine)
    engine.dispose()
    return url


@pytest.fixture
def empty_database(database_url: str) -> str:
    """The test database with every table emptied (schema and migrations kept)."""
    empty_tables(database_url)
    return database_url


@pytest.fixture
def server_factory(empty_database: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers (app + sandbox) with setting overrides; all are stopped afterwards."""
    started: list[LiveServer] = []

    def start(overrides: dict[str, str] | None = None, **options: Any) -> LiveServer:
        server = start_server(empty_database, tmp_path, overrides, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory()
