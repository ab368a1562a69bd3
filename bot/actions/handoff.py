"""The handoff action: the customer goes to a person, in the queue of the right skill group (or, in
wechat_kf mode, to WeChat's own customer-service system), and is told what happens next.

It replaces the language-only `action_request_human` of `intents.actions` (which only marks the
dialogue state) wherever the bot runs with its database.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.handoff.desk import HandoffDesk, HandoffRequest
from bot.handoff.models import HandoffReason
from bot.models import Channel
from intents.actions.conversation import latest_intent
from intents.actions.domain import ACTION_REQUEST_HUMAN, HANDOFF_AT, HANDOFF_REASON
from storage.clock import utcnow

# Messages that ask for a person or accept one: not the question the bot failed to answer.
_NOT_THE_QUESTION = frozenset({"ask_human", "affirm"})
TRANSFER_KEY = "transfer_customer_service"
# The dialogue state's words for why (intents.actions.conversation.ActionRequestHuman's).
_DIALOGUE_REASONS = {HandoffReason.ASKED: "asked", HandoffReason.COMPLAINT: "complaint",
                     HandoffReason.FALLBACK: "offered", HandoffReason.RULE: "rule", HandoffReason.STAFF: "staff"}


class ActionHandOff(Action):
    def __init__(self, desk: HandoffDesk) -> None:
        self._desk = desk

    def name(self) -> str:
        return ACTION_REQUEST_HUMAN

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        channel, _, openid = tracker.sender_id.partition(":")
        question = unanswered_question(tracker)
        reason = handoff_reason(tracker)
        outcome = self._desk.hand_off(HandoffRequest(
            channel=Channel(channel), openid=openid, reason=reason,
            intent=_intent_of(question), entities=_entities_of(question), question=str(question.get("text") or ""),
        ))
        if outcome.transfer_to_kf:
            dispatcher.utter_message(json_message={TRANSFER_KEY: {"kf_account": outcome.kf_account}})
        else:
            dispatcher.utter_message(text=outcome.text)
        # The dialogue state keeps the mark too, as the language-only action sets it, for a Rasa policy.
        return [SlotSet(HANDOFF_AT, utcnow().isoformat()), SlotSet(HANDOFF_REASON, _DIALOGUE_REASONS[reason])]


def handoff_reason(tracker: Tracker) -> HandoffReason:
    if tracker.get_slot(HANDOFF_REASON) == _DIALOGUE_REASONS[HandoffReason.RULE]:
        return HandoffReason.RULE  # the dialogue says a tag rule asked for it
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
