"""The handoff action: the customer goes to a person, in the queue of the right skill group (or, in
wechat_kf mode, to WeChat's own customer-service system), and is told what happens next.

It replaces the language-only `action_request_human` of `intents.actions` (which only marks the
dialogue state) wherever the bot runs with its database.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.handoff.desk import HandoffDesk, HandoffRequest
from bot.handoff.models import HandoffReason
from bot.models import Channel
from intents.actions.conversation import latest_intent
from intents.actions.domain import ACTION_REQUEST_HUMAN

# Messages that ask for a person or accept one: not the question the bot failed to answer.
_NOT_THE_QUESTION = frozenset({"ask_human", "affirm"})
TRANSFER_KEY = "transfer_customer_service"


class ActionHandOff(Action):
    def __init__(self, desk: HandoffDesk) -> None:
        self._desk = desk

    def name(self) -> str:
        return ACTION_REQUEST_HUMAN

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        channel, _, openid = tracker.sender_id.partition(":")
        question = unanswered_question(tracker)
        outcome = self._desk.hand_off(HandoffRequest(
            channel=Channel(channel), openid=openid, reason=handoff_reason(tracker),
            intent=_intent_of(question), entities=_entities_of(question), question=str(question.get("text") or ""),
        ))
        if outcome.transfer_to_kf:
            dispatcher.utter_message(json_message={TRANSFER_KEY: {"kf_account": outcome.kf_account}})
        else:
            dispatcher.utter_message(text=outcome.text)
        return []


def handoff_reason(tracker: Tracker) -> HandoffReason:
    intent = latest_intent(tracker)
    if intent == "ask_human":
        return HandoffReason.ASKED
    if intent == "complaint":
        return HandoffReason.COMPLAINT
    return HandoffReason.FALLBACK  # the offer taken, or a failure after it


def unanswered_question(tracker: Tracker) -> dict[str, Any]:
    """The parse of the customer's latest message that was a question, not a request for a person."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        parsed = event.get("parse_data") or {}
        if _intent_of(parsed) not in _NOT_THE_QUESTION:
            return dict(parsed)
    return dict(tracker.latest_message or {})


def _intent_of(parsed: dict[str, Any]) -> str:
    return str((parsed.get("intent") or {}).get("name") or "")


def _entities_of(parsed: dict[str, Any]) -> list[dict[str, str]]:
    return [{"entity": str(e.get("entity")), "value": str(e.get("value"))} for e in parsed.get("entities") or []
            if e.get("entity") and e.get("extractor") != "menu"]
