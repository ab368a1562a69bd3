"""Knowledge-base actions: answer an FAQ, clarify with a "猜你想问" menu, and the two fallback stages."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from intents.actions.domain import (
    ACTION_ANSWER_FAQ,
    ACTION_ASK_REPHRASE,
    ACTION_CLARIFY,
    ACTION_OFFER_HUMAN,
    FAQ_ID_ENTITY,
    HANDOFF_MENU_ID,
)
from intents.actions.replies import ActionTexts, TalkingAction, utter_card, utter_menu
from intents.kb import Faq, MatchResult, Outcome
from intents.kb_source import KnowledgeBaseSource


class FaqLookup:
    """The knowledge base as the actions and the policy see it.

    The policy matches a message to choose an action and the action matches it again to answer;
    the last few results are kept (per matcher, so a reloaded KB is never answered from a stale
    result), which makes the second match free.
    """

    _CACHE_SIZE = 64

    def __init__(self, source: KnowledgeBaseSource) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._recent: OrderedDict[tuple[int, str], MatchResult] = OrderedDict()

    def match(self, text: str) -> MatchResult:
        matcher = self._source.matcher()
        key = (id(matcher), text)
        with self._lock:
            cached = self._recent.get(key)
            if cached is not None:
                self._recent.move_to_end(key)
                return cached
        result = matcher.match(text)
        with self._lock:
            self._recent[key] = result
            while len(self._recent) > self._CACHE_SIZE:
                self._recent.popitem(last=False)
        return result

    def by_id(self, faq_id: str) -> Faq | None:
        return self._source.knowledge_base().by_id(faq_id)

    def popular(self, limit: int) -> list[Faq]:
        return self._source.knowledge_base().popular(limit)


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def chosen_faq_id(tracker: Tracker) -> str | None:
    """The FAQ the customer picked from a menu, carried as a `faq_id` entity."""
    return next(tracker.get_latest_entity_values(FAQ_ID_ENTITY), None)


def utter_faq(dispatcher: CollectingDispatcher, faq: Faq) -> None:
    """An FAQ's answer: its text, its mini-program card, or both (text first)."""
    if faq.answer:
        dispatcher.utter_message(text=faq.answer)
    if faq.card is not None:
        card = faq.card
        utter_card(dispatcher, title=card.title, appid=card.appid, pagepath=card.pagepath, image=card.image,
                   thumb_media_id=card.thumb_media_id)


class ActionAnswerFaq(Action):
    """Answers the FAQ the customer tapped, or the one their message matches with confidence."""

    def __init__(self, faqs: FaqLookup, texts: ActionTexts) -> None:
        self._faqs = faqs
        self._texts = texts

    def name(self) -> str:
        return ACTION_ANSWER_FAQ

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        faq_id = chosen_faq_id(tracker)
        faq = self._faqs.by_id(faq_id) if faq_id else self._faqs.match(latest_text(tracker)).answer
        if faq is None:
            dispatcher.utter_message(text=self._texts.rephrase)
            return []
        utter_faq(dispatcher, faq)
        return []


class ActionClarify(Action):
    """Not sure which FAQ: offer the best candidates (at most 3) as a "猜你想问" menu."""

    def __init__(self, faqs: FaqLookup, texts: ActionTexts) -> None:
        self._faqs = faqs
        self._texts = texts

    def name(self) -> str:
        return ACTION_CLARIFY

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        result = self._faqs.match(latest_text(tracker))
        if result.outcome is Outcome.FALLBACK or not result.candidates:
            dispatcher.utter_message(text=self._texts.rephrase)
            return []
        items = [(candidate.faq.id, candidate.faq.question) for candidate in result.candidates]
        utter_menu(dispatcher, self._texts.clarify_head, items, self._texts.clarify_tail)
        return []


class ActionAskRephrase(TalkingAction):
    """First fallback stage: ask the customer to say it another way."""

    def name(self) -> str:
        return ACTION_ASK_REPHRASE

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text=self._texts.rephrase)
        return []


class ActionOfferHuman(TalkingAction):
    """Second fallback stage: the rephrased message failed too, so offer a person (a one-item menu)."""

    def name(self) -> str:
        return ACTION_OFFER_HUMAN

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        texts = self._texts
        utter_menu(dispatcher, texts.offer_human, [(HANDOFF_MENU_ID, texts.offer_human_item)], texts.offer_human_tail)
        return []


def previous_user_text(tracker: Tracker) -> str | None:
    """What the customer said before their latest message (None at the start of a conversation)."""
    event: dict[str, Any] | None = tracker.get_last_event_for("user", skip=1)
    return None if event is None else str(event.get("text") or "")


def last_bot_action(tracker: Tracker) -> str | None:
    """The last action the bot ran before listening (two-stage fallback looks at it)."""
    event: dict[str, Any] | None = tracker.get_last_event_for("action", exclude=["action_listen"])
    return None if event is None else str(event.get("name"))
