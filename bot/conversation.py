"""Conversation bookkeeping around one inbound message: claim it once, log it, store the answer.

This is the webhook's hot path, so it runs through the group-commit writer: one short job to claim
and log the message, one to store the answer. The statements every message runs are
`DirectStatement`s (compiled once, run on the driver's cursor): SQLAlchemy's execution machinery
cost more than the SQL.

A claim is a lease: a retry of the push that finds the message still `processing` after the lease
takes the claim over (the delivery that claimed it died), and only the current claimant's answer
is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol, cast

from sqlalchemy import Connection, CursorResult, Insert, Result, Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.config import WebhookConfig, WindowRule, lease_for_budget
from bot.handoff.ownership import owning_handoff
from bot.handoff.summary import message_text
from bot.inbound import Inbound
from bot.messenger import Messenger
from bot.models import (
    Channel,
    ConversationMessage,
    Customer,
    Delivery,
    Direction,
    InboundMessage,
    InboundState,
    WindowAction,
)
from bot.outgoing import Outgoing, to_body
from bot.tracker import DialogueSnapshot
from bot.windows import open_window
from storage.clock import utcnow
from storage.db import transaction
from storage.direct import DirectStatement
from storage.group_commit import GroupCommitWriter
from storage.sql import dialect_name, insert_ignoring_conflicts

CUSTOMERS = cast(Table, Customer.__table__)
MESSAGES = cast(Table, ConversationMessage.__table__)
INBOUND = cast(Table, InboundMessage.__table__)

# The hot path's statements, built once and run with parameter dicts: SQLAlchemy then reuses the
# compiled SQL, where building a statement per message cost four times as much as running it.
_MESSAGE_COLUMNS = ("customer_id", "direction", "kind", "body", "delivery", "created_at", "attempts")
LOG_INBOUND = DirectStatement(insert(MESSAGES).returning(MESSAGES.c.id), (*_MESSAGE_COLUMNS, "wechat_msg_id"))
LOG_PASSIVE_REPLY = DirectStatement(insert(MESSAGES), (*_MESSAGE_COLUMNS, "sent_at"))
FIND_CUSTOMER = select(CUSTOMERS.c.id).where(
    CUSTOMERS.c.channel == bindparam("channel"), CUSTOMERS.c.openid == bindparam("openid")
)
SET_FOLLOWING = update(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("customer")).values(
    subscribed=bindparam("following")
)
STORED_REPLY = select(INBOUND.c.state, INBOUND.c.reply_xml).where(INBOUND.c.dedupe_key == bindparam("key"))
# received_at doubles as the claim's time. Both updates are conditional, so the database decides
# who holds a claim: of two retries taking over one stale claim only one matches, and a claimant
# whose claim was taken over stores nothing.
TAKE_OVER_CLAIM = update(INBOUND).where(
    INBOUND.c.dedupe_key == bindparam("key"),
    INBOUND.c.state == InboundState.PROCESSING,
    INBOUND.c.received_at < bindparam("stale_before"),
).values(received_at=bindparam("claimed_at"))
STORE_REPLY = DirectStatement(update(INBOUND).where(
    INBOUND.c.dedupe_key == bindparam("key"),
    INBOUND.c.state == InboundState.PROCESSING,
    INBOUND.c.received_at == bindparam("claimed_at"),
).values(state=InboundState.ANSWERED, reply_xml=bindparam("xml")), ("key", "claimed_at", "xml"))
# Backdating the claim by its lease makes it stale for the next delivery; only if it is still ours.
RELEASE_CLAIM = update(INBOUND).where(
    INBOUND.c.dedupe_key == bindparam("key"),
    INBOUND.c.state == InboundState.PROCESSING,
    INBOUND.c.received_at == bindparam("claimed_at"),
).values(received_at=bindparam("stale_at"))


DEFAULT_CLAIM_LEASE = lease_for_budget(WebhookConfig.reply_budget_ms)


@cache
def _claim_statement(dialect: str) -> DirectStatement:
    # RETURNING tells whether this insert won the key: rowcount is unreliable with ON CONFLICT here.
    return DirectStatement(insert_ignoring_conflicts(dialect, INBOUND).returning(INBOUND.c.dedupe_key),
                           ("dedupe_key", "state", "received_at"))


@cache
def _create_customer_statement(dialect: str) -> Insert:
    return insert_ignoring_conflicts(dialect, CUSTOMERS)


@dataclass(frozen=True)
class Claimed:
    """A first delivery of this message, or a retry that took over a stale claim: ours to answer."""

    inbound: Inbound
    customer_id: int
    claimed_at: datetime  # the claim's received_at: storing the answer checks it is still ours
    taken_over: bool = False  # an earlier delivery claimed (and logged) it, then died
    handoff_id: int | None = None  # a person owns the conversation: the bot stays silent
    state: DialogueSnapshot | None = None  # the dialogue state, read with the claim for the bot's turn


class StateReader(Protocol):
    """Reads a customer's dialogue state inside the claim's job (`DatabaseTrackerStore`)."""

    def read_at_claim(self, connection: Connection, channel: Channel, openid: str,
                      customer_id: int) -> DialogueSnapshot: ...


@dataclass(frozen=True)
class AlreadySeen:
    """A retry (or a copy): answer with the stored reply, or `success` while it is in progress."""

    reply_xml: str | None


class Conversations:
    def __init__(
        self,
        *,
        writer: GroupCommitWriter,
        factory: sessionmaker[Session],
        messenger: Messenger,
        windows: Mapping[WindowAction, WindowRule],
        dedupe_ttl_s: int = 86400,
        claim_lease: timedelta = DEFAULT_CLAIM_LEASE,
        clock: Callable[[], datetime] = utcnow,
        states: StateReader | None = None,
    ) -> None:
        """`states` reads the customer's dialogue state in the claim's job, so the bot's turn need not
        queue on the writer again for it."""
        self._writer = writer
        self._states = states
        self._factory = factory
        self._messenger = messenger
        self._windows = windows
        self._dedupe_ttl_s = dedupe_ttl_s
        self._claim_lease = claim_lease
        self._clock = clock
        # Customers are never deleted, so an id once seen stays right; only the writer thread touches this.
        self._customer_ids: dict[tuple[str, str], int] = {}
        # The claims this process holds and has not answered yet (dedupe key -> claimed_at), released on
        # shutdown. Only the event loop's thread touches this.
        self._held: dict[str, datetime] = {}

    async def receive(self, inbound: Inbound) -> Claimed | AlreadySeen:
        """Claim the message (dedupe that survives restarts), log it, and open the reply window."""
        now = self._clock()
        seen = await self._writer.run_async(lambda connection: self._claim(connection, inbound, now))
        if isinstance(seen, Claimed):
            self._held[inbound.dedupe_key] = seen.claimed_at
        return seen

    async def answer(
        self,
        claimed: Claimed,
        *,
        passive: Outgoing | None,
        passive_xml: str,
        queued: list[Outgoing],
    ) -> list[int] | None:
        """Store the answer in one transaction: the passive reply (kept for retries) and the
        messages to send through the customer-service API. Returns the ids to deliver, or None
        when a retry has taken the claim over: then nothing is stored, the retry answers."""
        now = self._clock()
        try:
            return await self._writer.run_async(
                lambda connection: self._store_answer(connection, claimed, passive, passive_xml, queued, now)
            )
        finally:
            self._held.pop(claimed.inbound.dedupe_key, None)

    def release_claims(self) -> int:
        """On shutdown, after the turns under way had their time: make this process's unanswered claims
        stale at once, so WeChat's retry, wherever it lands, takes the message over and answers it instead
        of getting `success` until the lease runs out. Returns how many were released."""
        held, self._held = self._held, {}
        released = 0
        with transaction(self._factory) as session:
            for key, claimed_at in held.items():
                stale = {"key": key, "claimed_at": claimed_at, "stale_at": claimed_at - self._claim_lease}
                released += _updated_one(session.execute(RELEASE_CLAIM, stale))
        return released

    def forget_old_deliveries(self) -> int:
        """Drop dedupe records WeChat can no longer retry (it gives up within seconds)."""
        cutoff = self._clock() - timedelta(seconds=self._dedupe_ttl_s)
        with transaction(self._factory) as session:
            removed = session.execute(delete(InboundMessage).where(InboundMessage.received_at < cutoff))
            return int(removed.rowcount)  # type: ignore[attr-defined]

    # -- jobs run by the writer thread ------------------------------------------------------

    def _claim(self, connection: Connection, inbound: Inbound, now: datetime) -> Claimed | AlreadySeen:
        customer_id = self._customer_id(connection, inbound.channel, inbound.openid)
        key = inbound.dedupe_key
        claim = {"dedupe_key": key, "state": InboundState.PROCESSING, "received_at": now}
        if _claim_statement(connection.dialect.name).execute(connection, claim).first() is None:
            return self._claim_seen(connection, inbound, customer_id, now)
        message = self._log_arrival(connection, inbound, customer_id, now)
        handoff_id = owning_handoff(connection, customer_id=customer_id, kind=inbound.kind, now=now, message=message)
        state = None
        if handoff_id is None and self._states is not None:  # a person's conversation has no bot turn
            state = self._states.read_at_claim(connection, inbound.channel, inbound.openid, customer_id)
        return Claimed(inbound, customer_id, claimed_at=now, handoff_id=handoff_id, state=state)

    def _claim_seen(
        self, connection: Connection, inbound: Inbound, customer_id: int, now: datetime
    ) -> Claimed | AlreadySeen:
        """A message claimed before: its stored reply, `success` while it is in hand, or, when its
        claimant died, the claim itself (the message was logged then, so it is not logged again)."""
        key = inbound.dedupe_key
        stored = connection.execute(STORED_REPLY, {"key": key}).one()
        if stored.state == InboundState.ANSWERED:
            return AlreadySeen(stored.reply_xml)
        takeover = {"key": key, "stale_before": now - self._claim_lease, "claimed_at": now}
        if _updated_one(connection.execute(TAKE_OVER_CLAIM, takeover)):
            handoff_id = owning_handoff(connection, customer_id=customer_id, kind="", now=now)
            return Claimed(inbound, customer_id, claimed_at=now, taken_over=True, handoff_id=handoff_id)
        return AlreadySeen(None)

    def _log_arrival(
        self, connection: Connection, inbound: Inbound, customer_id: int, now: datetime
    ) -> Callable[[], dict[str, Any]]:
        """Log the message and open the window; how to show it in the console (built only if a person
        owns the conversation: most messages never need it)."""
        if inbound.kind in ("subscribe", "unsubscribe"):
            connection.execute(SET_FOLLOWING, {"customer": customer_id, "following": inbound.kind == "subscribe"})
        body = _inbound_body(inbound)
        message_id = LOG_INBOUND.execute(connection, {
            "customer_id": customer_id, "direction": Direction.IN, "kind": inbound.kind,
            "body": body, "delivery": Delivery.RECEIVED, "created_at": now,
            "wechat_msg_id": inbound.msg_id, "attempts": 0,
        }).scalar()
        action = inbound.window_action
        if action is not None:
            open_window(connection, customer_id=customer_id, action=action, rules=self._windows, now=now)
        return lambda: {"id": message_id, "channel": inbound.channel, "direction": Direction.IN,
                        "kind": inbound.kind, "text": message_text(inbound.kind, body),
                        "delivery": Delivery.RECEIVED, "created_at": now}

    def _store_answer(
        self,
        connection: Connection,
        claimed: Claimed,
        passive: Outgoing | None,
        passive_xml: str,
        queued: list[Outgoing],
        now: datetime,
    ) -> list[int] | None:
        key = claimed.inbound.dedupe_key
        # First, so that a claimant whose claim was taken over writes nothing at all.
        store = {"key": key, "xml": passive_xml, "claimed_at": claimed.claimed_at}
        if STORE_REPLY.execute(connection, store).rowcount != 1:
            return None
        customer_id, channel = claimed.customer_id, claimed.inbound.channel
        if passive is not None:
            LOG_PASSIVE_REPLY.execute(connection, {
                "customer_id": customer_id, "direction": Direction.OUT, "kind": passive.kind,
                "body": to_body(passive), "delivery": Delivery.PASSIVE, "created_at": now, "sent_at": now,
                "attempts": 0,
            })
        return [
            self._messenger.record_reply(connection, customer_id=customer_id, channel=channel, message=message,
                                         idempotency_key=f"reply:{key}:{index}", now=now)
            for index, message in enumerate(queued)
        ]

    def _customer_id(self, connection: Connection, channel: Channel, openid: str) -> int:
        cached = self._customer_ids.get((channel, openid))
        if cached is not None:
            return cached
        who = {"channel": channel, "openid": openid}
        found = connection.execute(FIND_CUSTOMER, who).scalar()
        if found is not None:
            # Cached only once committed by an earlier transaction: this batch might still roll back.
            self._customer_ids[(channel, openid)] = int(found)
            return int(found)
        return customer_id(connection, channel=channel, openid=openid, now=self._clock())


def customer_id(connection: Connection | Session, *, channel: Channel, openid: str, now: datetime) -> int:
    """The customer's id, creating the customer on first sight."""
    who = {"channel": channel, "openid": openid}
    found = connection.execute(FIND_CUSTOMER, who).scalar()
    if found is not None:
        return int(found)
    # Another process may create the same customer at the same moment: insert-or-ignore, then read.
    connection.execute(_create_customer_statement(dialect_name(connection)),
                       {**who, "subscribed": False, "created_at": now})
    return int(connection.execute(FIND_CUSTOMER, who).scalar_one())


def _updated_one(result: Result[Any]) -> bool:
    return int(cast(CursorResult[Any], result).rowcount) == 1


def _inbound_body(inbound: Inbound) -> dict[str, str]:
    body = {"content": inbound.content, "event_key": inbound.event_key, "menu_id": inbound.menu_id,
            "session_from": inbound.session_from, **inbound.shared_page}
    return {key: value for key, value in body.items() if value}
