"""Running a dialogue action as Rasa does: a rasa_sdk Tracker in, events and messages out."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from intents.actions import DOMAIN
from intents.actions.domain import initial_slots


def tracker(text: str, intent: str = "faq", entities: list[dict[str, Any]] | None = None,
            slots: dict[str, Any] | None = None, events: list[dict[str, Any]] | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
              "intent_ranking": [{"name": intent, "confidence": 0.9}]}
    return Tracker.from_dict({
        "sender_id": "oa:o_customer", "slots": {**initial_slots(), **(slots or {})}, "latest_message": latest,
        "events": events or [{"event": "user", "text": text, "parse_data": latest}], "active_loop": {},
    })


def run(action: Action, given: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, given, DOMAIN))
    return events, dispatcher.messages


def entity(kind: str, value: Any) -> dict[str, Any]:
    return {"entity": kind, "value": value, "start": 0, "end": 1}
