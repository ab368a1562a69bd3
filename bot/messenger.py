"""The one way a message leaves chatshop through WeChat's customer-service API.

Every message is written to the conversation (the durable outbox) before it is sent, and sent at
most once: a row is claimed (`pending` → `sending`) and committed before WeChat is called, so a
process killed mid-call leaves a `sending` row that recovery marks `in_doubt` instead of resending.
Rows that were recorded but never attempted stay `pending` and the sweeper sends them after a
restart. Before calling WeChat the messenger spends the customer's reply window and refuses what
WeChat would refuse, with the same error codes.

Each customer's messages go out in the order they were recorded (by id): a message is not claimed
while an earlier one to the same customer is still on its way (`pending`, e.g. waiting for a retry
after -1 or 45009, or `sending`). It stays `pending`, due at once, and goes when the one ahead of
it leaves the outbox: sent, refused for good (45015, 40003, 43004, ...), failed with its retries
spent, or in doubt. The sweeper takes only the first message of each customer's line, so one
customer's retries never hold up another's messages, and when that message goes it sends the rest of
the line that is due in the same pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.config import MessengerConfig
from bot.errors import SendRefused, refusal_for
from bot.handoff.ownership import publish_delivery
from bot.models import (
    OUTBOX_PREDICATE,
    Channel,
    ConversationMessage,
    Customer,
    Delivery,
    Direction,
    ReplyWindow,
    move_delivery,
)
from bot.outgoing import Outgoing, check_sendable, from_body, to_body, to_custom_send
from bot.windows import align_with_wechat, give_back, spend_window
from storage.clock import utcnow
from storage.db import transaction
from wechat.client import WeChatClient
from wechat.customer_service import TypingCommand
from wechat.errors import IN_DOUBT_ERRCODE, TRANSPORT_ERRCODE, WeChatApiError

log = logging.getLogger(__name__)

# Errors after which the same message may safely be sent again: WeChat did not take it.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 40001, 42001, TRANSPORT_ERRCODE})


INSERT_OUTBOX = insert(ConversationMessage)  # built once; run with parameters (see bot.conversation)

# The partial outbox index's own predicate, spelled the same so SQLite's planner uses the index.
OUTBOX_ROWS = text(OUTBOX_PREDICATE)

# WeChat's answer to a media id it does not know (expired, or never uploaded to this account).
INVALID_MEDIA_ERRCODE = 40007

# What deliver_one answers for a message still in its customer's line: a retry is due later, it waits
# for an earlier message, or another process is sending it.
STILL_IN_LINE = frozenset({Delivery.PENDING, Delivery.SENDING})


@dataclass(frozen=True)
class Claim:
    message_id: int
    channel: Channel
    customer_id: int
    payload: dict[str, object]


class Messenger:
    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        apis: Mapping[Channel, WeChatClient],
        config: MessengerConfig,
        clock: Callable[[], datetime] = utcnow,
        media_rejected: Callable[[str, str], None] | None = None,
    ) -> None:
        """`media_rejected(app_id, media_id)` hears of a card whose thumbnail WeChat no longer knows."""
        self._factory = factory
        self._apis = apis
        self._config = config
        self._clock = clock
        self._media_rejected = media_rejected

    # -- recording -------------------------------------------------------------------------

    def record(
        self,
        session: Session,
        *,
        customer: Customer,
        message: Outgoing,
        idempotency_key: str | None = None,
        sent_by: str | None = None,
    ) -> ConversationMessage:
        """Write an outbound message as `pending` (or `refused`) inside the caller's transaction.

        The caller sends it after commit with `deliver`; if that never happens the sweeper does.
        A repeated idempotency key returns the message recorded the first time.
        """
        if idempotency_key is not None:
            existing = session.scalar(
                select(ConversationMessage).where(ConversationMessage.idempotency_key == idempotency_key)
            )
            if existing is not None:
                return existing
        values = self._outbox_values(customer.id, Channel(customer.channel), message, idempotency_key, self._clock())
        row = ConversationMessage(**values, sent_by=sent_by)
        session.add(row)
        session.flush()
        return row

    def record_reply(
        self,
        connection: Connection,
        *,
        customer_id: int,
        channel: Channel,
        message: Outgoing,
        idempotency_key: str,
        now: datetime,
    ) -> int:
        """`record` for the webhook's hot path: one Core INSERT, keyed by the claimed inbound message."""
        values = self._outbox_values(customer_id, channel, message, idempotency_key, now)
        inserted = connection.execute(INSERT_OUTBOX, values)
        key = inserted.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _outbox_values(
        self, customer_id: int, channel: Channel, message: Outgoing, idempotency_key: str | None, now: datetime
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "direction": Direction.OUT,
            "kind": message.kind,
            "body": to_body(message),
            "delivery": Delivery.PENDING,
            "created_at": now,
            "idempotency_key": idempotency_key,
            "attempts": 0,
            "next_attempt_at": now + timedelta(seconds=self._config.outbox_grace_s),
        }
        try:
            check_sendable(message, channel)
        except SendRefused as refused:
            values |= {"delivery": Delivery.REFUSED, "next_attempt_at": None,
                       "error_code": refused.errcode, "error": refused.reason[:255]}
        return values

    def send(self, *, customer_id: int, message: Outgoing, idempotency_key: str | None = None) -> Delivery:
        """Record and send one message now; raise the typed refusal if it cannot go out.

        `pending` means it is left to the sweeper: it met a retryable error, or waits for an
        earlier message to the same customer.
        """
        return self.send_with_id(customer_id=customer_id, message=message, idempotency_key=idempotency_key)[0]

    def send_with_id(
        self, *, customer_id: int, message: Outgoing, idempotency_key: str | None = None, sent_by: str | None = None
    ) -> tuple[Delivery, int]:
        """`send`, also giving the message's id; `sent_by` names the staff member who wrote it."""
        with transaction(self._factory) as session:
            customer = session.get_one(Customer, customer_id)
            row = self.record(session, customer=customer, message=message, idempotency_key=idempotency_key,
                              sent_by=sent_by)
            row_id, delivery = row.id, row.delivery
        if delivery is Delivery.PENDING:
            delivery = self.deliver_one(row_id)
        if delivery is Delivery.REFUSED:
            raise self._refusal_of(row_id)
        return delivery, row_id

    # -- delivering ------------------------------------------------------------------------

    def deliver(self, message_ids: Iterable[int]) -> None:
        """Send recorded messages in order (after the transaction that recorded them committed)."""
        for message_id in message_ids:
            self.deliver_one(message_id)

    def deliver_one(self, message_id: int) -> Delivery:
        claim = self._claim(message_id)
        if claim is None:
            with transaction(self._factory) as session:
                return Delivery(session.get_one(ConversationMessage, message_id).delivery)
        client = self._apis[claim.channel]
        try:
            client.customer_service.send(dict(claim.payload))
        except WeChatApiError as exc:
            if exc.errcode == INVALID_MEDIA_ERRCODE:
                self._forget_media(client.app_id, claim.payload)
            return self._record_failure(claim, exc.errcode, exc.errmsg)
        return self._record_sent(claim)

    def _forget_media(self, app_id: str, payload: Mapping[str, object]) -> None:
        card = payload.get("miniprogrampage")
        media_id = card.get("thumb_media_id") if isinstance(card, dict) else None
        if self._media_rejected is not None and isinstance(media_id, str):
            self._media_rejected(app_id, media_id)

    def _claim(self, message_id: int) -> Claim | None:
        """Take the row for sending and spend the window, committed before WeChat is called."""
        now = self._clock()
        with transaction(self._factory) as session:
            # The row lock makes a concurrent claimer wait, then see the row is no longer pending.
            row = session.scalar(
                select(ConversationMessage)
                .where(ConversationMessage.id == message_id, ConversationMessage.delivery == Delivery.PENDING)
                .with_for_update()
            )
            if row is None:
                return None  # someone else has it, or it is already settled
            if self._waits_in_line(session, row, now):
                return None
            customer = session.get_one(Customer, row.customer_id)
            row.attempts += 1
            try:
                spend_window(session, customer_id=customer.id, now=now)
            except SendRefused as refused:
                move_delivery(session, row, Delivery.REFUSED, at=now, error_code=refused.errcode)
                row.next_attempt_at, row.error_code, row.error = None, refused.errcode, refused.reason
                metrics.record_outbound(row.kind, "refused")
                log.info("refused message %s to customer %s: %s", row.id, customer.id, refused.reason)
                return None
            move_delivery(session, row, Delivery.SENDING, at=now)
            row.next_attempt_at = now + timedelta(seconds=self._lease_s())  # the claim's lease
            payload = to_custom_send(from_body(row.body), customer.openid)
            return Claim(row.id, Channel(customer.channel), customer.id, payload)

    def _waits_in_line(self, session: Session, row: ConversationMessage, now: datetime) -> bool:
        """Hold a message back while an earlier one to the same customer is still on its way."""
        ahead = first_in_line(session, row.customer_id)
        if ahead is None or ahead.id == row.id:
            return False
        # Its writer has tried: from now on it is the sweeper's, as soon as the line moves.
        if row.next_attempt_at is None or row.next_attempt_at > now:
            row.next_attempt_at = now
        log.info("message %s to customer %s waits for message %s", row.id, row.customer_id, ahead.id)
        return True

    def _record_sent(self, claim: Claim) -> Delivery:
        now = self._clock()
        with transaction(self._factory) as session:
            row = session.get_one(ConversationMessage, claim.message_id, with_for_update=True)
            move_delivery(session, row, Delivery.SENT, at=now)
            row.sent_at, row.next_attempt_at = now, None
            row.error_code = row.error = None
            # A message ends the typing indicator on WeChat's side.
            session.execute(update(Customer).where(Customer.id == claim.customer_id).values(typing_until=None))
            metrics.record_outbound(row.kind, "sent")
            if row.sent_by:
                publish_delivery(session, row, now)
        return Delivery.SENT

    def _record_failure(self, claim: Claim, errcode: int, errmsg: str) -> Delivery:
        now = self._clock()
        with transaction(self._factory) as session:
            row = session.get_one(ConversationMessage, claim.message_id, with_for_update=True)
            row.error_code, row.error, row.next_attempt_at = errcode, errmsg[:255], None
            outcome = self._failure_outcome(row, errcode)
            if errcode in RETRYABLE_ERRCODES:
                give_back(session, customer_id=claim.customer_id)
            elif outcome is Delivery.REFUSED:
                align_with_wechat(session, customer_id=claim.customer_id, errcode=errcode, now=now)
            if outcome != row.delivery:
                move_delivery(session, row, outcome, at=now, error_code=errcode)
            if outcome is Delivery.PENDING:
                row.next_attempt_at = now + timedelta(seconds=self._backoff_s(row.attempts))
            metrics.record_outbound(row.kind, outcome.value)
            if row.sent_by:
                publish_delivery(session, row, now)
        log.warning("message %s: WeChat error %s (%s) -> %s", claim.message_id, errcode, errmsg, outcome)
        return outcome

    def _failure_outcome(self, row: ConversationMessage, errcode: int) -> Delivery:
        if errcode == IN_DOUBT_ERRCODE:
            return Delivery.IN_DOUBT
        if errcode not in RETRYABLE_ERRCODES:
            return Delivery.REFUSED
        if row.delivery != Delivery.SENDING or row.attempts >= self._config.max_attempts:
            return Delivery.FAILED  # out of attempts, or already settled as in doubt: never resent
        return Delivery.PENDING

    def _refusal_of(self, message_id: int) -> SendRefused:
        with transaction(self._factory) as session:
            row = session.get_one(ConversationMessage, message_id)
            return refusal_for(row.error_code or 0, row.error or "refused")

    def _backoff_s(self, attempts: int) -> float:
        return self._config.retry_backoff_s * 2 ** (attempts - 1)

    def _lease_s(self) -> float:
        # A claim outlives the longest call wechatpy can make (token refresh + one retry).
        return 3 * self._config.request_timeout_s + 10

    # -- the sweeper -----------------------------------------------------------------------

    def sweep(self, limit: int = 100) -> int:
        """Send what is due (retries, and rows whose writer never sent them); settle stale claims.

        Takes the first message of each customer's line, if due, and once it goes, the ones behind
        it; at most `limit` attempts in all. Returns how many messages it tried to send.
        """
        now = self._clock()
        with transaction(self._factory) as session:
            self._settle_stale_claims(session, now)
            heads = session.execute(due_heads_of_lines(now, limit)).all()
        attempts = 0
        for message_id, customer_id in heads:
            if attempts >= limit:
                break
            attempts += self._send_line(message_id, customer_id, limit - attempts)
        return attempts

    def _send_line(self, message_id: int, customer_id: int, budget: int) -> int:
        """Send a customer's due messages in order, starting from the first of their line."""
        attempts = 0
        next_id: int | None = message_id
        while next_id is not None and attempts < budget:
            attempts += 1
            if self.deliver_one(next_id) in STILL_IN_LINE:
                break  # it waits for a retry, or another process has it: the rest of the line waits too
            next_id = self._next_due_in_line(customer_id)
        return attempts

    def _next_due_in_line(self, customer_id: int) -> int | None:
        now = self._clock()
        with transaction(self._factory) as session:
            first = first_in_line(session, customer_id)
        return first.id if first is not None and first.is_due(now) else None

    def _settle_stale_claims(self, session: Session, now: datetime) -> None:
        """A `sending` row past its lease belongs to a process that stopped mid-call."""
        stale = session.scalars(
            select(ConversationMessage)
            .where(
                OUTBOX_ROWS,
                ConversationMessage.delivery == Delivery.SENDING,
                ConversationMessage.next_attempt_at <= now,
            )
            .with_for_update(skip_locked=True)
        ).all()
        for row in stale:
            move_delivery(session, row, Delivery.IN_DOUBT, at=now)
            row.next_attempt_at, row.error = None, "process stopped mid-send"
        if stale:
            log.warning("%s message(s) were mid-send when a process stopped: in doubt, not resent", len(stale))

    # -- typing ----------------------------------------------------------------------------

    def start_typing(self, customer_id: int) -> bool:
        """Show "typing" while a slow reply is prepared, only where WeChat allows it."""
        now = self._clock()
        # The customer's last action reset their reply window, so its opening time is their last exchange.
        recent_exchange = select(ReplyWindow.customer_id).where(
            ReplyWindow.customer_id == customer_id,
            ReplyWindow.opened_at > now - timedelta(seconds=self._config.typing_exchange_s),
        )
        with transaction(self._factory) as session:
            claimed = session.execute(
                update(Customer)
                .where(
                    Customer.id == customer_id,
                    Customer.id.in_(recent_exchange),
                    (Customer.typing_until.is_(None)) | (Customer.typing_until <= now),
                )
                .values(typing_until=now + timedelta(seconds=self._config.typing_lasts_s))
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            customer = session.get_one(Customer, customer_id)
            channel, openid = Channel(customer.channel), customer.openid
        try:
            self._apis[channel].customer_service.typing(openid, TypingCommand.TYPING)
        except WeChatApiError as exc:
            log.info("typing indicator refused for customer %s: %s", customer_id, exc)
            return False
        return True


@dataclass(frozen=True)
class InLine:
    """A message in a customer's line: pending or sending."""

    id: int
    delivery: Delivery
    next_attempt_at: datetime | None

    def is_due(self, now: datetime) -> bool:
        return self.delivery is Delivery.PENDING and self.next_attempt_at is not None and self.next_attempt_at <= now


def first_in_line(session: Session, customer_id: int) -> InLine | None:
    """The customer's earliest message still on its way: the only one of theirs that may go now.

    Found through the partial line index (customer_id, id), so it costs the same however long the
    customer's history or line. OUTBOX_ROWS is that index's own predicate: SQLite's planner uses a
    partial index only when the query says so in the same words.
    """
    first = session.execute(
        select(ConversationMessage.id, ConversationMessage.delivery, ConversationMessage.next_attempt_at)
        .where(OUTBOX_ROWS, ConversationMessage.customer_id == customer_id)
        .order_by(ConversationMessage.id)
        .limit(1)
    ).first()
    return None if first is None else InLine(first.id, Delivery(first.delivery), first.next_attempt_at)


def due_heads_of_lines(now: datetime, limit: int) -> Select[int, int]:
    """(id, customer_id) of each customer's first outbox message, where that message is due.

    One pass over the partial outbox index: each row's place in its customer's line comes from a
    window over the outbox rows alone. Messages waiting behind another are left out before `limit`
    applies, so a customer with a retry pending and a long line cannot crowd others out. Not a
    NOT EXISTS probe of the line index per due message: PostgreSQL answers that one's ORDER BY id
    LIMIT by walking the primary key through every message ever written.
    """
    place = func.row_number().over(partition_by=ConversationMessage.customer_id, order_by=ConversationMessage.id)
    lines = select(
        ConversationMessage.id,
        ConversationMessage.customer_id,
        ConversationMessage.delivery,
        ConversationMessage.next_attempt_at,
        place.label("place"),
    ).where(OUTBOX_ROWS).subquery("lines")
    return (
        select(lines.c.id, lines.c.customer_id)
        .where(lines.c.place == 1, lines.c.delivery == Delivery.PENDING, lines.c.next_attempt_at <= now)
        .order_by(lines.c.id)
        .limit(limit)
    )
