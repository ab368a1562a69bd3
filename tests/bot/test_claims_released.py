"""A process that stops with a message claimed but unanswered hands the claim back (chatshop/app.py runs
`release_claims` in its graceful shutdown), so WeChat's retry, landing on whichever process, answers the
message at once instead of getting `success` until the claim's lease runs out.

The lease here is an hour, so only a release can free the claim while the test runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.conversation import AlreadySeen, Claimed, Conversations
from bot.inbound import Inbound
from bot.messenger import Messenger
from bot.models import Channel, InboundMessage, InboundState
from chatshop.services import messenger_config_of
from chatshop.settings import Settings
from storage.db import make_session_factory, open_engine
from storage.group_commit import GroupCommitWriter

HOUR = timedelta(hours=1)


@pytest.fixture
def processes(empty_database: str) -> Iterator[tuple[Conversations, Conversations]]:
    """Two processes' conversation stores on one database: the one that stops, and the one the retry reaches."""
    engine = open_engine(empty_database)
    factory = make_session_factory(engine)
    config = messenger_config_of(Settings())
    writers = [GroupCommitWriter(engine), GroupCommitWriter(engine)]
    stores = tuple(Conversations(writer=writer, factory=factory, windows=config.windows, claim_lease=HOUR,
                                 messenger=Messenger(factory=factory, apis={}, config=config))
                   for writer in writers)
    yield stores[0], stores[1]
    for writer in writers:
        writer.close()
    engine.dispose()


def message(msg_id: int) -> Inbound:
    return Inbound(channel=Channel.OA, openid="o_released", kind="text", create_time=1_700_000_000,
                   msg_id=msg_id, content="你好")


def test_a_stopping_process_hands_back_its_unanswered_claims_and_only_those(
    processes: tuple[Conversations, Conversations], empty_database: str,
) -> None:
    asyncio.run(hand_back_scenario(*processes))
    engine = open_engine(empty_database)
    with engine.connect() as db:
        states = set(db.scalars(select(InboundMessage.state)))
    engine.dispose()
    assert states == {InboundState.ANSWERED}


async def hand_back_scenario(stopping: Conversations, other: Conversations) -> None:
    # Given two messages claimed by the stopping process, one of them answered
    unanswered = await stopping.receive(message(9_100_001))
    answered = await stopping.receive(message(9_100_002))
    assert isinstance(unanswered, Claimed) and isinstance(answered, Claimed)
    await stopping.answer(answered, passive=None, passive_xml="<xml>kept</xml>", queued=[])
    # And a retry of the unanswered one meanwhile finds its claim fresh: `success`, nobody else answers it
    assert await other.receive(message(9_100_001)) == AlreadySeen(None)
    # When the process stops and releases what it holds
    assert stopping.release_claims() == 1
    # Then the next retry, on the other process, takes the message over and answers it
    retried = await other.receive(message(9_100_001))
    assert isinstance(retried, Claimed) and retried.taken_over
    assert await other.answer(retried, passive=None, passive_xml="<xml>late</xml>", queued=[]) == []
    # And the answered message keeps its stored reply for its retries
    assert await other.receive(message(9_100_002)) == AlreadySeen("<xml>kept</xml>")
    # And releasing again hands back nothing: the stopping process holds no claim any more
    assert stopping.release_claims() == 0
