"""The handoff desk: the one service the bot, the staff API and the scheduler use for the human side of a
conversation. Each method runs its operation in a transaction of its own and does the side effects after
commit: assigning what waits once an agent is free, and telling the customer what happens (through the
messenger, with its window and quota rules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversation import customer_id as customer_id_of
from bot.customers.tags import customer_tags
from bot.errors import SendRefused
from bot.handoff.config import HandoffConfig, HandoffMode, RoutingConfig, SkillGroup, describe_opening
from bot.handoff.errors import InvalidHandoffInput, ReplyRefused, UnknownGroup
from bot.handoff.models import Handoff, HandoffReason, HandoffState, Resolution
from bot.handoff.operations import (
    Actor,
    Assignment,
    add_note,
    assign_next,
    claim,
    hand_off,
    lock_group,
    note_agent_reply,
    queue_place,
    require_owner,
    resolve,
    transfer_to_agent,
    transfer_to_group,
    visible_handoff,
)
from bot.handoff.ownership import publish_message
from bot.handoff.summary import build_summary
from bot.handoff.timeouts import apply_timeouts
from bot.live import LiveEvent, LiveKind, publish
from bot.messenger import Messenger
from bot.models import Channel, ConversationMessage, Customer, Delivery
from bot.outgoing import MenuItem, MsgMenu, Outgoing, Text
from bot.windows import reply_window
from storage.clock import utcnow
from storage.db import transaction

log = logging.getLogger(__name__)

CSAT_PREFIX = "csat:"
CSAT_LABELS = (
    (5, "⭐⭐⭐⭐⭐ 非常满意"), (4, "⭐⭐⭐⭐ 满意"), (3, "⭐⭐⭐ 一般"), (2, "⭐⭐ 不满意"), (1, "⭐ 非常不满意"),
)


def parse_rating(menu_id: str, typed: str) -> tuple[int | None, int] | None:
    """(handoff id or None, score) from a rating-menu tap (`csat:<handoff>:<score>`) or a typed digit."""
    if menu_id.startswith(CSAT_PREFIX):
        handoff, _, score = menu_id.removeprefix(CSAT_PREFIX).partition(":")
        if handoff.isdigit() and score in ("1", "2", "3", "4", "5"):
            return int(handoff), int(score)
        return None
    digit = typed.strip()
    return (None, int(digit)) if digit in ("1", "2", "3", "4", "5") else None


MAX_REPLY_CHARS = 2000  # WeChat's customer-service text limit is 2048 bytes of content; keep clear of it

# Who a customer is on the commerce side: the mini-program openids whose carts and orders are theirs.
BuyerOpenids = Callable[[Channel, str], list[str]]
# A product card for a channel (or its text fallback), from a product id, naming the conversation (customer id).
CardComposer = Callable[[str, Channel, int], Outgoing]


@dataclass(frozen=True)
class HandoffRequest:
    """What the bot knows when it hands a customer over."""

    channel: Channel
    openid: str
    reason: HandoffReason
    intent: str = ""
    entities: Sequence[dict[str, str]] = ()
    question: str = ""  # the customer's question the bot could not answer


@dataclass(frozen=True)
class HandoffOutcome:
    """What the customer is told, or, in wechat_kf mode, the account WeChat should transfer them to."""

    text: str
    transfer_to_kf: bool = False
    kf_account: str = ""
    handoff_id: int | None = None


class HandoffDesk:
    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        messenger: Messenger,
        routing: RoutingConfig,
        config: HandoffConfig,
        buyer_openids: BuyerOpenids | None = None,
        compose_card: CardComposer | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._factory = factory
        self._messenger = messenger
        self.routing = routing
        self.config = config
        self._buyer_openids = buyer_openids or (lambda channel, openid: [openid] if channel is Channel.MP else [])
        self._compose_card = compose_card
        self._clock = clock

    def buyer_openids(self, channel: Channel, openid: str) -> list[str]:
        """The mini-program openids whose carts and orders are this customer's (may ask WeChat: call it
        outside a transaction)."""
        return self._buyer_openids(channel, openid)

    # -- the bot's side ---------------------------------------------------------------------------

    def hand_off(self, request: HandoffRequest) -> HandoffOutcome:
        """Queue the customer for a person of the right group and say what happens next."""
        if self.config.mode is HandoffMode.WECHAT_KF:
            return self._transfer_to_kf(request)
        buyers = self._buyer_openids(request.channel, request.openid)  # may ask WeChat: outside a transaction
        now = self._clock()
        with transaction(self._factory) as session:
            customer = customer_id_of(session, channel=request.channel, openid=request.openid, now=now)
            group = self.route(session, customer, request.intent, now)
            summary = build_summary(session, customer_id=customer, reason=request.reason.value,
                                    intent=request.intent, entities=request.entities, question=request.question,
                                    buyer_openids=buyers, now=now)
            handoff, new = hand_off(session, customer_id=customer, reason=request.reason, group=group.name,
                                    summary=summary, now=now)
            handoff_id, group_name = handoff.id, handoff.group
        if not new:
            return HandoffOutcome(self.config.texts.already_waiting, handoff_id=handoff_id)
        # Assigned at once: the customer is told who serves them, in this one reply (a notice sent apart
        # could overtake the passive reply).
        assigned = self.assign_waiting([group_name], notify=False)
        mine = next((a for a in assigned if a.handoff_id == handoff_id), None)
        self._notify_assigned([a for a in assigned if a.handoff_id != handoff_id])
        if mine is not None:
            return HandoffOutcome(self.config.texts.assigned.format(agent=mine.agent_name), handoff_id=handoff_id)
        return HandoffOutcome(self._queued_text(handoff_id, request.reason), handoff_id=handoff_id)

    def _transfer_to_kf(self, request: HandoffRequest) -> HandoffOutcome:
        now = self._clock()
        with self._factory() as session:
            customer = session.scalar(select(Customer.id).where(Customer.channel == request.channel,
                                                                Customer.openid == request.openid))
            group = self.route(session, customer, request.intent, now) if customer else self.routing.default_group
        return HandoffOutcome("", transfer_to_kf=True, kf_account=group.kf_account)

    def route(self, session: Session, customer_id: int | None, intent: str, now: datetime) -> SkillGroup:
        """The group a handoff goes to: the first whose intents name the message's, else the first whose
        tags match one of the customer's, else the first group."""
        for group in self.routing.groups:
            if intent and intent in group.intents:
                return group
        tags = [tag.name for tag in customer_tags(session, customer_id, now=now)] if customer_id else []
        for group in self.routing.groups:
            if any(group.matches_tag(tag) for tag in tags):
                return group
        return self.routing.default_group

    def _queued_text(self, handoff_id: int, reason: HandoffReason) -> str:
        texts = self.config.texts
        lines = [{HandoffReason.COMPLAINT: texts.queued_complaint, HandoffReason.FALLBACK: texts.queued_fallback}
                 .get(reason, texts.queued)]
        with self._factory() as session:
            handoff = session.get_one(Handoff, handoff_id)
            group = self._group(handoff.group)
            opening = group.next_opening(self._clock(), self.routing.zone)
            if not group.is_open(self._clock(), self.routing.zone):
                lines.append(texts.closed.format(opening=describe_opening(opening)) if opening
                             else texts.closed_no_opening)
            elif (place := queue_place(session, handoff)) > self.config.long_queue:
                lines.append(texts.place.format(place=place))
        return "".join(lines)

    def on_customer_message(self, handoff_id: int, kind: str, content: str) -> list[Outgoing]:
        """A message while a person owns the conversation: the bot says nothing (the agent reads it),
        unless the customer ends the handoff (不用了 / 结束), which gives them the bot back."""
        if kind != "text" or content.strip().rstrip("。.!！~～") not in self.config.end_words:
            return []
        now = self._clock()
        with transaction(self._factory) as session:
            handoff = session.get_one(Handoff, handoff_id)
            if handoff.state == HandoffState.RESOLVED:
                return []
            lock_group(session, handoff.group)
            session.refresh(handoff)
            resolve(session, handoff=handoff, resolution=Resolution.CUSTOMER_ENDED, actor=Actor("customer"), now=now)
            group = handoff.group
        self.assign_waiting([group])
        return [Text(self.config.texts.ended_by_customer)]

    # -- assignment ---------------------------------------------------------------------------------

    def assign_waiting(self, groups: Iterable[str] | None = None, *, notify: bool = True) -> list[Assignment]:
        """Give waiting conversations to free agents, oldest first in each open group; one transaction per
        assignment, so a conversation is assigned the moment it is decided."""
        now = self._clock()
        names = sorted(set(groups) if groups is not None else self.routing.names())
        assigned: list[Assignment] = []
        for name in names:
            group = self.routing.group(name)
            if group is None or not group.is_open(now, self.routing.zone):
                continue  # waits for its opening (the timeouts job assigns then)
            while (done := self._assign_one(name, now)) is not None:
                assigned.append(done)
        if notify:
            self._notify_assigned(assigned)
        return assigned

    def _assign_one(self, group: str, now: datetime) -> Assignment | None:
        with transaction(self._factory) as session:
            return assign_next(session, group=group, now=now)

    def _notify_assigned(self, assigned: Sequence[Assignment]) -> None:
        for assignment in assigned:
            text = self.config.texts.assigned.format(agent=assignment.agent_name)
            self._tell(assignment.customer_id, text, key=f"handoff:{assignment.handoff_id}:assigned:"
                                                         f"{assignment.agent_id}:{self._clock().timestamp():.0f}")

    def _tell(self, customer_id: int, text: str, *, key: str) -> None:
        """Tell the customer something; a refusal (window closed, quota spent) is logged, not raised."""
        if not text:
            return
        try:
            self._messenger.send(customer_id=customer_id, message=Text(text), idempotency_key=key[:80])
        except SendRefused as refused:
            log.info("could not tell customer %s about their handoff: %s", customer_id, refused.reason)

    # -- the staff side -------------------------------------------------------------------------------

    def claim(self, actor: Actor, handoff_id: int) -> Assignment:
        with transaction(self._factory) as session:
            return claim(session, handoff_id=handoff_id, actor=actor, now=self._clock())

    def reply(self, actor: Actor, handoff_id: int, *, text: str | None = None, product_id: str | None = None,
              client_key: str | None = None) -> tuple[int, Delivery]:
        """Send the agent's text or product card to the customer through the messenger; (message id,
        delivery). Refused with WeChat's code before any call when WeChat would refuse it."""
        now = self._clock()
        with self._factory() as session:
            handoff = visible_handoff(session, handoff_id, actor)
            require_owner(handoff, actor)
            customer = session.get_one(Customer, handoff.customer_id)
            channel, customer_id = Channel(customer.channel), customer.id
            self._check_window(session, customer_id, now)
        message = self._reply_message(channel, customer_id, text, product_id)
        key = f"agent:{handoff_id}:{client_key}" if client_key else None
        try:
            delivery, message_id = self._messenger.send_with_id(customer_id=customer_id, message=message,
                                                                idempotency_key=key, sent_by=actor.name)
        except SendRefused as refused:
            raise self._refusal(refused, customer_id) from None
        with transaction(self._factory) as session:
            handoff = session.get_one(Handoff, handoff_id)
            note_agent_reply(session, handoff, self._clock())
            publish_message(session, handoff, session.get_one(ConversationMessage, message_id), self._clock())
        return message_id, delivery

    def _reply_message(self, channel: Channel, customer_id: int, text: str | None, product_id: str | None) -> Outgoing:
        if (text is None) == (product_id is None):
            raise InvalidHandoffInput("send either text or product_id", field="text")
        if text is not None:
            body = text.strip()
            if not body or len(body) > MAX_REPLY_CHARS:
                raise InvalidHandoffInput(f"a reply is 1 to {MAX_REPLY_CHARS} characters", field="text")
            return Text(body)
        if self._compose_card is None:
            raise InvalidHandoffInput("product cards are not available", field="product_id")
        assert product_id is not None
        return self._compose_card(product_id, channel, customer_id)

    def _check_window(self, session: Session, customer_id: int, now: datetime) -> None:
        window = reply_window(session, customer_id)
        if window is None or window.expires_at <= now:
            raise ReplyRefused("WeChat's 48-hour reply window is closed: the customer must write first",
                               wechat_errcode=45015, window_closed_at=window.expires_at if window else None)
        if window.quota is not None and window.used >= window.quota:
            raise ReplyRefused(f"all {window.quota} messages of this window are used: the customer must write first",
                               wechat_errcode=45047, window_closed_at=None)

    def _refusal(self, refused: SendRefused, customer_id: int) -> ReplyRefused:
        with self._factory() as session:
            window = reply_window(session, customer_id)
        closed = window.expires_at if window is not None and refused.errcode == 45015 else None
        return ReplyRefused(refused.reason, wechat_errcode=refused.errcode, window_closed_at=closed)

    def transfer(self, actor: Actor, handoff_id: int, *, group: str | None = None,
                 agent_id: int | None = None) -> None:
        if (group is None) == (agent_id is None):
            raise InvalidHandoffInput("transfer to either a group or an agent", field="group")
        now = self._clock()
        if group is not None:
            self._group(group)
            with transaction(self._factory) as session:
                old = visible_handoff(session, handoff_id, actor).group
                for name in sorted({old, group}):
                    lock_group(session, name)
                transfer_to_group(session, handoff_id=handoff_id, group=group, actor=actor, now=now)
            self.assign_waiting(sorted({old, group}))
            return
        assert agent_id is not None
        with transaction(self._factory) as session:
            old_group = visible_handoff(session, handoff_id, actor).group
            assignment = transfer_to_agent(session, handoff_id=handoff_id, to_staff_id=agent_id, actor=actor, now=now)
        self.assign_waiting([old_group])  # the agent it left may take the next one
        self._notify_assigned([assignment])

    def resolve(self, actor: Actor, handoff_id: int) -> None:
        now = self._clock()
        with transaction(self._factory) as session:
            lock_group(session, visible_handoff(session, handoff_id, actor).group)
            handoff = visible_handoff(session, handoff_id, actor, lock=True)
            if handoff.agent_id is not None:  # an assigned one is its agent's (or a supervisor's) to end
                require_owner(handoff, actor)
            resolve(session, handoff=handoff, resolution=Resolution.AGENT, actor=actor, now=now)
            customer_id, group = handoff.customer_id, handoff.group
            channel = Channel(session.get_one(Customer, customer_id).channel)
        self._tell(customer_id, self.config.texts.resolved, key=f"handoff:{handoff_id}:resolved")
        if self.config.csat:
            self._ask_rating(customer_id, handoff_id, channel)
        self.assign_waiting([group])

    # -- satisfaction (CSAT) --------------------------------------------------------------------------

    def _ask_rating(self, customer_id: int, handoff_id: int, channel: Channel) -> None:
        texts = self.config.texts
        message: Outgoing = Text(texts.csat_mp) if channel is Channel.MP else MsgMenu(
            head=texts.csat_head, tail=texts.csat_tail,
            items=tuple(MenuItem(id=f"{CSAT_PREFIX}{handoff_id}:{score}", content=label)
                        for score, label in CSAT_LABELS),
        )
        try:
            self._messenger.send(customer_id=customer_id, message=message, idempotency_key=f"handoff:{handoff_id}:csat")
        except SendRefused as refused:
            log.info("could not ask customer %s for a rating: %s", customer_id, refused.reason)

    def rating_reply(self, customer_id: int, channel: Channel, kind: str, content: str,
                     menu_id: str) -> list[Outgoing] | None:
        """The thanks for a rating (a tap on the rating menu, or a digit typed in mini-program service
        after an agent resolved); None when the message is not a rating."""
        rating = parse_rating(menu_id, content if channel is Channel.MP and kind == "text" else "")
        if rating is None:
            return None
        handoff_id, score = rating
        now = self._clock()
        with transaction(self._factory) as session:
            handoff = self._rated_handoff(session, customer_id, handoff_id, now)
            if handoff is None:
                return None if handoff_id is None else []  # a stale tap: nothing to say
            handoff.csat_score, handoff.csat_at = score, now
            publish(session, LiveEvent(LiveKind.CSAT, {"handoff_id": handoff.id, "agent_id": handoff.agent_id,
                                                       "score": score}, now, group=handoff.group,
                                       agent_id=handoff.agent_id, handoff_id=handoff.id))
        return [Text(self.config.texts.csat_thanks)]

    def _rated_handoff(self, session: Session, customer_id: int, handoff_id: int | None,
                       now: datetime) -> Handoff | None:
        since = now - timedelta(seconds=self.config.csat_window_s)
        query = select(Handoff).where(Handoff.customer_id == customer_id, Handoff.state == HandoffState.RESOLVED,
                                      Handoff.resolution == Resolution.AGENT, Handoff.csat_score.is_(None),
                                      Handoff.resolved_at >= since)
        if handoff_id is not None:
            query = query.where(Handoff.id == handoff_id)
        return session.scalar(query.order_by(Handoff.id.desc()).limit(1).with_for_update())

    def add_note(self, actor: Actor, handoff_id: int, text: str) -> dict[str, Any]:
        with transaction(self._factory) as session:
            note = add_note(session, handoff_id=handoff_id, actor=actor, text=text, now=self._clock())
            shown = {"id": note.id, "author": note.author, "text": note.text, "at": note.at.isoformat()}
            handoff = session.get_one(Handoff, handoff_id)
            publish(session, LiveEvent(LiveKind.NOTE, {"handoff_id": handoff_id, "note": shown}, note.at,
                                       group=handoff.group, agent_id=handoff.agent_id, handoff_id=handoff_id))
            return shown

    def _group(self, name: str) -> SkillGroup:
        group = self.routing.group(name)
        if group is None:
            raise UnknownGroup(f"no skill group {name!r}; groups: {', '.join(self.routing.names())}", group=name)
        return group

    # -- timeouts (a scheduler job) ---------------------------------------------------------------------

    def check_timeouts(self) -> dict[str, int]:
        """Tell and escalate what waits too long, remind and re-queue what agents leave unanswered, resolve
        what the customer left; then assign what waits (a group that just opened gets its queue)."""
        counts = apply_timeouts(self._factory, config=self.config, routing=self.routing, now=self._clock(),
                                tell=self._tell)
        counts["assigned"] = len(self.assign_waiting())
        return counts
