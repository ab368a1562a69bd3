"""Tag rules applied where their triggers happen: after a dialogue turn (intent, faq_answered, a card
sent from the mini-program), when a product card is opened in the mini-program, and for the commerce
core's events (order_paid, refund_requested, order_total_at_least), consumed from its outbox."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session, sessionmaker

from bot.actions.products import shared_product_id
from bot.conversation import customer_id
from bot.customers.tag_models import CardOpen, TagSource
from bot.customers.tag_rules import TagRule, TagRuleSource, Trigger
from bot.customers.tags import tag_customer, untag_customer
from bot.inbound import Inbound
from bot.models import Channel
from commerce.catalog import list_products
from commerce.models import Order, OrderItem, OutboxEvent, Product
from commerce.outbox import claim_events
from commerce.states import EventKind
from intents.actions import FaqLookup
from intents.actions.domain import ACTION_ANSWER_FAQ, FAQ_ID_ENTITY
from storage.clock import utcnow
from storage.db import transaction
from storage.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)

CONSUMER = "bot_tag_rules"
COMMERCE_KINDS = (EventKind.ORDER_PAID, EventKind.REFUND_REQUESTED)

# A rule and the placeholder values it fires with.
Firing = tuple[TagRule, Mapping[str, str]]


@dataclass(frozen=True)
class TurnFacts:
    """What one dialogue turn tells the tag rules."""

    channel: Channel
    openid: str
    intent: str | None = None
    entities: Mapping[str, str] = field(default_factory=dict)  # the first value of each entity
    faq_category: str | None = None  # the category of the FAQ the bot answered
    shared_product_id: str | None = None  # a product card the customer sent from the mini-program

    @classmethod
    def of_turn(cls, inbound: Inbound, parsed: Mapping[str, Any], ran: Sequence[str], faqs: FaqLookup) -> TurnFacts:
        """What a turn understood (`parsed`, its latest message) and did (the actions it `ran`)."""
        entities: dict[str, str] = {}
        for entity in parsed.get("entities") or []:
            entities.setdefault(str(entity.get("entity")), str(entity.get("value")))
        faq_category = None
        if ACTION_ANSWER_FAQ in ran:  # the FAQ tapped, else the one the text matched (a cached match)
            picked = entities.get(FAQ_ID_ENTITY)
            faq = faqs.by_id(picked) if picked else faqs.match(inbound.content).answer
            faq_category = faq.category if faq is not None and faq.category else None
        shared = None
        if inbound.kind == "miniprogrampage":
            shared = shared_product_id(str(inbound.fields.get("PagePath") or "")) or None
        return cls(channel=inbound.channel, openid=inbound.openid, intent=(parsed.get("intent") or {}).get("name"),
                   entities=entities, faq_category=faq_category, shared_product_id=shared)


def apply_firings(session: Session, customer: int, firings: Iterable[Firing], *, now: datetime) -> int:
    """Put on and take off what the fired rules say; how many tag changes were made."""
    changed = 0
    for rule, values in firings:
        for change in rule.render(values):
            set_by = f"rule:{change.rule}"
            if change.add:
                expires_at = now + change.expires_in if change.expires_in else None
                changed += tag_customer(session, customer, name=change.name, source=TagSource.RULE, set_by=set_by,
                                        now=now, group=change.group, expires_at=expires_at)
            else:
                changed += untag_customer(session, customer, name=change.name, source=TagSource.RULE,
                                          set_by=set_by, now=now)
    return changed


def category_named(session: Session, word: str) -> str | None:
    """The catalog category a customer's word stands for: a category itself (女装), or the category of
    the first product on sale whose title names it (连衣裙 → 女装)."""
    found = list_products(session, category=word, limit=1)
    return found[0].category if found else None


class TagTriggers:
    """The tag rules of one service, applied by the dialogue, the mini-program API and a scheduler job."""

    def __init__(self, source: TagRuleSource, writer: GroupCommitWriter | None = None) -> None:
        self._source = source
        self._writer = writer

    @property
    def source(self) -> TagRuleSource:
        return self._source

    def hands_off(self, facts: TurnFacts) -> bool:
        """Whether a rule this turn fires says a person should take the conversation over."""
        rules = self._source.rules()
        fired = [*rules.intent_rules(facts.intent, facts.entities), *rules.faq_rules(facts.faq_category)]
        return any(rule.hand_off for rule in fired)

    def on_turn(self, facts: TurnFacts) -> None:
        """After a dialogue turn. On the webhook's hot path: a turn no rule fires for costs a few lookups
        and no database work; one that fires is queued on the group-commit writer, not waited for."""
        rules = self._source.rules()
        intent_rules = rules.intent_rules(facts.intent, facts.entities)
        faq_rules = rules.faq_rules(facts.faq_category)
        card_rules = rules.for_trigger(Trigger.CARD_OPENED) if facts.shared_product_id else ()
        if not (intent_rules or faq_rules or card_rules) or self._writer is None:
            return
        self._writer.submit_unawaited(
            lambda connection: self._apply_turn(connection, facts, intent_rules, faq_rules, card_rules),
            what="applying tag rules",
        )

    def _apply_turn(self, connection: Connection, facts: TurnFacts, intent_rules: list[TagRule],
                    faq_rules: list[TagRule], card_rules: tuple[TagRule, ...]) -> int:
        now = utcnow()
        with Session(bind=connection) as session:
            customer = customer_id(session, channel=facts.channel, openid=facts.openid, now=now)
            firings: list[Firing] = [(rule, _turn_values(session, facts)) for rule in intent_rules]
            firings += [(rule, {"category": facts.faq_category or ""}) for rule in faq_rules]
            if facts.shared_product_id:
                firings += _card_firings(session, customer, facts.shared_product_id, None, card_rules, now)
            changed = apply_firings(session, customer, firings, now=now)
            # Flushes into the writer's transaction; the writer commits it with the rest of its batch.
            session.commit()
        return changed

    def card_opened(self, session: Session, openid: str, product_id: str, conversation: str | None,
                    now: datetime) -> int:
        """A mini-program customer opened a product card: record it and apply the card_opened rules."""
        customer = customer_id(session, channel=Channel.MP, openid=openid, now=now)
        rules = self._source.rules().for_trigger(Trigger.CARD_OPENED)
        return apply_firings(session, customer, _card_firings(session, customer, product_id, conversation, rules, now),
                             now=now)

    def consume_commerce_events(self, factory: sessionmaker[Session], *, now: datetime | None = None,
                                limit: int = 100) -> int:
        """The scheduler's job: apply the rules of the order_paid and refund_requested events not yet
        seen, each once (an outbox consumer); how many events it read."""
        with transaction(factory) as session:
            events = claim_events(session, consumer=CONSUMER, kinds=COMMERCE_KINDS, limit=limit, now=now)
            for event in events:
                self._apply_event(session, event, now or utcnow())
        return len(events)

    def _apply_event(self, session: Session, event: OutboxEvent, now: datetime) -> None:
        order = session.get(Order, event.order_no) if event.order_no else None
        if order is None or not event.openid:
            return
        rules = self._source.rules()
        products = _order_products(session, order.order_no)
        trigger = Trigger.ORDER_PAID if event.kind == EventKind.ORDER_PAID else Trigger.REFUND_REQUESTED
        firings: list[Firing] = [(rule, values) for values in products for rule in rules.for_trigger(trigger)]
        if trigger is Trigger.ORDER_PAID:
            firings += [(rule, {}) for rule in rules.total_rules(order.amount_fen)]
        if firings:
            customer = customer_id(session, channel=Channel.MP, openid=event.openid, now=now)
            apply_firings(session, customer, firings, now=now)


def _turn_values(session: Session, facts: TurnFacts) -> dict[str, str]:
    values = {name: value for name, value in facts.entities.items() if value}
    if facts.intent:
        values.setdefault("intent", facts.intent)
    if "category" in values:
        values["category"] = category_named(session, values["category"]) or values["category"]
    elif values.get("product"):
        values["category"] = category_named(session, values["product"]) or ""
    return values


def _card_firings(session: Session, customer: int, product_id: str, conversation: str | None,
                  rules: Iterable[TagRule], now: datetime) -> list[Firing]:
    product = session.get(Product, product_id)
    if product is None:
        return []
    session.add(CardOpen(customer_id=customer, product_id=product_id, conversation=conversation, opened_at=now))
    values = {"category": product.category, "product": product.title}
    return [(rule, values) for rule in rules]


def _order_products(session: Session, order_no: str) -> list[dict[str, str]]:
    """{category, product} of each product of an order, once each, in the order's order."""
    query = (select(Product.category, Product.title).join(OrderItem, OrderItem.product_id == Product.id)
             .where(OrderItem.order_no == order_no).order_by(OrderItem.id))
    seen: dict[str, dict[str, str]] = {}
    for category, title in session.execute(query):
        seen.setdefault(title, {"category": category, "product": title})
    return list(seen.values())
