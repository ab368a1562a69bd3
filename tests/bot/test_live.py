"""Live updates as rows: published in the caller's transaction (gone with a rollback), read after an id,
and pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.live import ConsoleEvent, LiveEvent, LiveFeed, LiveKind, events_after, last_event_id, prune_events, publish
from storage.db import open_engine, transaction
from tests.support.sandbox_client import wait_until

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_an_update_is_there_only_if_its_transaction_commits(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        kept = publish(session, LiveEvent(LiveKind.NOTE, {"handoff_id": 1, "at": NOW}, NOW, group="售前"))
    with pytest.raises(RuntimeError), transaction(factory) as session:
        publish(session, LiveEvent(LiveKind.NOTE, {"handoff_id": 2}, NOW, group="售前"))
        raise RuntimeError("the change failed")
    with factory() as session:
        rows = events_after(session, 0)
        assert [(row.id, row.data) for row in rows] == [(kept, {"handoff_id": 1, "at": NOW.isoformat()})]
        assert last_event_id(session) == kept and events_after(session, kept) == []


def test_old_updates_are_pruned(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        publish(session, LiveEvent(LiveKind.AGENT, {}, NOW - timedelta(days=8), agent_id=7))
        recent = publish(session, LiveEvent(LiveKind.AGENT, {}, NOW, agent_id=7))
    with transaction(factory) as session:
        assert prune_events(session, before=NOW - timedelta(days=7)) == 1
    with factory() as session:
        assert [row.id for row in events_after(session, 0)] == [recent]


def test_the_feed_hands_on_a_row_that_commits_after_a_higher_id(database_url: str, empty_database: str) -> None:
    # Given the process's feed, started on the newest row
    engine = open_engine(database_url)
    feed = LiveFeed(engine, poll_s=0.02, pg_safety_poll_s=0.05)
    try:
        start = feed.position()
        assert wait_until(feed.ready, bool, 5)
        base = 10_000_000  # ids of our own, far from the sequence's
        # When a row with a higher id commits first (as two transactions on PostgreSQL can)
        insert_event(engine, base + 2)
        first = wait_until(lambda: feed.since(start), lambda held: bool(held and held[0]), 5)
        # and the lower id commits afterwards
        insert_event(engine, base + 1)
        later = wait_until(lambda: feed.since(first[1]), lambda held: bool(held and held[0]), 5)
        # Then both reach the streams, in the order they committed
        assert [row.id for row in first[0]] == [base + 2]
        assert [row.id for row in later[0]] == [base + 1]
    finally:
        feed.stop()
        engine.dispose()


def insert_event(engine: Engine, event_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(insert(ConsoleEvent.__table__), {"id": event_id, "kind": LiveKind.NOTE, "group": None,
                                                            "agent_id": None, "handoff_id": None, "data": {},
                                                            "at": NOW})
