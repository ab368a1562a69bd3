"""Actions for the rest of a conversation: small talk, handing off to a person, and requests about
orders and products that the commerce lookup will serve (for now they are acknowledged, and what
is missing is asked for)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from intents.actions.domain import (
    ACTION_HANDLE_REQUEST,
    ACTION_REQUEST_HUMAN,
    ACTION_SEARCH_PRODUCT,
    ACTION_SMALL_TALK,
    HANDOFF_AT,
    HANDOFF_REASON,
    PENDING_REQUEST,
    REQUEST_INTENTS,
)
from intents.actions.replies import ActionTexts, TalkingAction


def latest_intent(tracker: Tracker) -> str:
    """The intent of the latest message, looking past `nlu_fallback` to the best guess."""
    intent = tracker.latest_message.get("intent") or {}
    name = tracker.get_intent_of_latest_message(skip_fallback_intent=True) or intent.get("name")
    return str(name or "")


def first_entity(tracker: Tracker, entity: str) -> str | None:
    value = next(tracker.get_latest_entity_values(entity), None)
    return None if value is None else str(value)


class ActionSmallTalk(TalkingAction):
    def name(self) -> str:
        return ACTION_SMALL_TALK

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        replies = self._texts.small_talk
        dispatcher.utter_message(text=replies.get(latest_intent(tracker), replies["greet"]))
        return []


class ActionRequestHuman(Action):
    """Marks the conversation for a person (when and why, as slots the bot stores with the
    customer's dialogue state) and tells the customer someone will come. Routing reads the mark."""

    def __init__(self, texts: ActionTexts, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._texts = texts
        self._clock = clock

    def name(self) -> str:
        return ACTION_REQUEST_HUMAN

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        reason = self._reason(tracker)
        dispatcher.utter_message(text=self._texts.handoff_complaint if reason == "complaint" else self._texts.handoff)
        return [SlotSet(HANDOFF_AT, self._clock().isoformat()), SlotSet(HANDOFF_REASON, reason)]

    @staticmethod
    def _reason(tracker: Tracker) -> str:
        intent = latest_intent(tracker)
        if intent in ("ask_human", "complaint"):
            return "asked" if intent == "ask_human" else "complaint"
        return "offered"  # the customer accepted the offer made after two failed messages


class ActionHandleRequest(TalkingAction):
    """Order requests (status, tracking, return, cancel, address): take the order number from the
    message (or an earlier one), acknowledge, or ask for the number and remember the request."""

    def name(self) -> str:
        return ACTION_HANDLE_REQUEST

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = latest_intent(tracker)
        order_no = first_entity(tracker, "order_no")
        request = intent if intent in REQUEST_INTENTS else tracker.get_slot(PENDING_REQUEST)
        if request not in REQUEST_INTENTS:
            if order_no is None:
                dispatcher.utter_message(text=self._texts.rephrase)
                return []
            request = "order_status"  # a bare order number: its status is what people want to know
        events: list[EventType] = []
        phone = first_entity(tracker, "phone")
        if phone:
            events.append(SlotSet("phone", phone))
        if order_no is None:
            dispatcher.utter_message(text=self._texts.ask_order_no)
            return [*events, SlotSet(PENDING_REQUEST, request)]
        dispatcher.utter_message(text=self._texts.request_received[str(request)].format(order_no=order_no))
        return [*events, SlotSet("order_no", order_no), SlotSet(PENDING_REQUEST, None)]


class ActionSearchProduct(TalkingAction):
    """A product question: echo what was understood (product, colour, size) and point to the shop."""

    def name(self) -> str:
        return ACTION_SEARCH_PRODUCT

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        product = first_entity(tracker, "product")
        colour, size = first_entity(tracker, "colour"), first_entity(tracker, "size")
        if product is None:
            dispatcher.utter_message(text=self._texts.product_unknown)
            return []
        detail = "".join(f"（{part}）" for part in (colour, f"{size}码" if size else None) if part)
        dispatcher.utter_message(text=self._texts.product_found.format(product=product, detail=detail))
        return [SlotSet("product", product), SlotSet("colour", colour), SlotSet("size", size)]
