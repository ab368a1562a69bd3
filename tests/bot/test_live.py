"""Live updates as rows: published in the caller's transaction (gone with a rollback), read after an id,
and pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.live import LiveEvent, LiveKind, events_after, last_event_id, prune_events, publish
from storage.db import transaction

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
