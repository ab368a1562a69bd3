"""The stored dialogue state stays the truth: the bot keeps states it decoded, but a state changed in
the database since (by another process, or by staff) is what the next turn works from."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from bot.models import Channel, Customer, DialogueState
from bot.tracker import DatabaseTrackerStore, DialogueSnapshot
from intents.actions.domain import HEIGHT, WEIGHT
from storage.clock import utcnow
from storage.db import open_engine
from storage.group_commit import GroupCommitWriter
from tests.bot.test_dialogue_conversations import dialogue_state, reply_text
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer


def customer_id(server: LiveServer, openid: str) -> int:
    with server.services.factory() as session:
        return session.scalars(
            select(Customer.id).where(Customer.openid == openid, Customer.channel == Channel.OA)
        ).one()


def test_a_turn_stored_by_another_process_is_what_the_next_turn_continues(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_two_servers")
    # Given a size form waiting for the customer's height
    assert "身高" in reply_text(customer.says("我不知道穿什么码"))
    before = dialogue_state(server, "o_two_servers")
    # and another server process that took the height in a turn of its own
    with server.services.factory() as session, session.begin():
        session.execute(
            update(DialogueState)
            .where(DialogueState.customer_id == customer_id(server, "o_two_servers"))
            .values(slots={**before.slots, "height": 162, "requested_slot": "weight"}, turns=before.turns + 1,
                    updated_at=utcnow())
        )
    # When the customer gives the weight
    reply = reply_text(customer.says("52kg"))
    # Then the size comes from the height the other process stored, not from a remembered state
    assert "推荐您选 M 码" in reply
    assert dialogue_state(server, "o_two_servers").turns == before.turns + 2


def test_a_handoff_mark_cleared_by_staff_stays_cleared(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_served")
    # Given a conversation marked for a person, who served the customer until they ended it
    customer.says("转人工")
    assert dialogue_state(server, "o_served").handoff_reason == "asked"
    customer.says("结束")
    # and staff who cleared the mark
    with server.services.factory() as session, session.begin():
        session.execute(
            update(DialogueState)
            .where(DialogueState.customer_id == customer_id(server, "o_served"))
            .values(handoff_requested_at=None, handoff_reason=None)
        )
    # When the customer writes again
    customer.says("谢谢")
    # Then the mark stays cleared, in its columns and in the stored slots
    state = dialogue_state(server, "o_served")
    assert (state.handoff_requested_at, state.handoff_reason) == (None, None)
    assert (state.slots["handoff_requested_at"], state.slots["handoff_reason"]) == (None, None)


def test_turns_two_processes_save_at_once_are_both_kept(empty_database: str, caplog: pytest.LogCaptureFixture) -> None:
    # Two stores on writers and engines of their own: two server processes sharing one database
    engines = [open_engine(empty_database) for _ in range(2)]
    writers = [GroupCommitWriter(engine) for engine in engines]
    first, second = (DatabaseTrackerStore(writer) for writer in writers)
    try:
        # Given a customer whose first turn is stored
        run_turn(first, writers[0], first.load(Channel.OA, "o_split"), {"requested_slot": HEIGHT})
        # When each process loads the state and runs a turn before the other has saved its own
        in_first, in_second = first.load(Channel.OA, "o_split"), second.load(Channel.OA, "o_split")
        run_turn(first, writers[0], in_first, {HEIGHT: 162})
        run_turn(second, writers[1], in_second, {WEIGHT: 52})
        # Then the stored state holds all three turns and both turns' slots, whichever process reads it
        for store in (first, second):
            state = store.load(Channel.OA, "o_split")
            assert state.turns == 3
            assert (state.slots[HEIGHT], state.slots[WEIGHT], state.slots["requested_slot"]) == (162, 52, HEIGHT)
            assert [e["value"] for e in state.events if e["event"] == "slot"] == [HEIGHT, 162, 52]
        assert "a turn saved elsewhere meanwhile" in caplog.text
    finally:
        for writer in writers:
            writer.close()
        for engine in engines:
            engine.dispose()


def run_turn(store: DatabaseTrackerStore, writer: GroupCommitWriter, state: DialogueSnapshot,
             slots: dict[str, object]) -> None:
    """A turn as the dialogue runs it: slot events applied, the turn counted, the save committed."""
    state.apply([{"event": "slot", "name": name, "value": value} for name, value in slots.items()])
    state.turns += 1
    store.save(Channel.OA, "o_split", state)
    writer.run(lambda connection: None)  # the writer commits in order: the save has landed


def test_a_state_read_with_a_claim_gives_way_to_a_turn_saved_since(empty_database: str) -> None:
    engine = open_engine(empty_database)
    writer = GroupCommitWriter(engine)
    store = DatabaseTrackerStore(writer)
    try:
        # Given a customer whose first turn is stored
        run_turn(store, writer, store.load(Channel.OA, "o_split"), {"requested_slot": HEIGHT})
        in_first_turn = store.load(Channel.OA, "o_split")
        customer = in_first_turn.customer_id
        assert customer is not None
        # and a writer held up, with the claim of the customer's next message queued, then the save of
        # the turn answering their previous one (two messages in quick succession)
        gate = threading.Event()
        writer.submit(lambda connection: gate.wait(timeout=10))
        claimed = writer.submit(lambda connection: store.read_at_claim(connection, Channel.OA, "o_split", customer))
        in_first_turn.apply([{"event": "slot", "name": HEIGHT, "value": 162}])
        in_first_turn.turns += 1
        store.save(Channel.OA, "o_split", in_first_turn)
        gate.set()
        read_at_claim = claimed.result(timeout=10)
        writer.run(lambda connection: None)
        # When the next message's turn starts from what its claim read (before that save landed)
        assert read_at_claim.turns == 1
        state = store.load(Channel.OA, "o_split", read_at_claim=read_at_claim)
        # Then it starts from the saved turn instead, and carries the customer on
        assert (state.turns, state.base_turns, state.slots[HEIGHT]) == (2, 2, 162)
        assert state.customer_id == customer
    finally:
        writer.close()
        engine.dispose()
