"""Commerce fixtures: a session factory on the emptied test database, and a small catalog."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from commerce.catalog import import_catalog, load_catalog_file
from storage.db import make_session_factory, open_engine, transaction
from tests.support.commerce import fixture_path


@pytest.fixture
def factory(empty_database: str) -> Iterator[sessionmaker[Session]]:
    engine = open_engine(empty_database)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def store(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The test store: three products, five SKUs (tests/fixtures/commerce/small_catalog.yaml)."""
    data = load_catalog_file(fixture_path("small_catalog.yaml"))
    with transaction(factory) as session:
        import_catalog(session, data)
    return factory
