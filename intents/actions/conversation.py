"""Actions for the rest of a conversation that need nothing but language: small talk and handing off
to a person. Actions that act on the store (orders, products) live in `bot.actions`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from intents.actions.domain import (
    ACTION_REQUEST_HUMAN,
    ACTION_SMALL_TALK,
    HANDOFF_AT,
    HANDOFF_REASON,
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
