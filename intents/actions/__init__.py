"""Dialogue actions about language alone, following rasa-sdk's contract, run in-process by the bot or by
`chatshop actions serve`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rasa_sdk import Action

from intents.actions.conversation import ActionRequestHuman, ActionSmallTalk
from intents.actions.domain import DOMAIN, HEIGHT, WEIGHT
from intents.actions.faq import ActionAnswerFaq, ActionAskRephrase, ActionClarify, ActionOfferHuman, FaqLookup
from intents.actions.replies import ActionTexts
from intents.actions.size import ActionAskSlot, ActionRecommendSize, SizeChart, ValidateSizeAdviceForm

__all__ = ["DOMAIN", "ActionTexts", "FaqLookup", "SizeChart", "build_actions"]


def build_actions(
    *,
    faqs: FaqLookup,
    size_chart: SizeChart,
    texts: ActionTexts | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Action]:
    """Every language action, by name (the store's own join them in `bot.actions.build_store_actions`):
    the same instances serve the bot and the Rasa action server."""
    texts = texts or ActionTexts()
    actions: list[Action] = [
        ActionAnswerFaq(faqs, texts),
        ActionClarify(faqs, texts),
        ActionAskRephrase(texts),
        ActionOfferHuman(texts),
        ActionRequestHuman(texts, clock),
        ActionSmallTalk(texts),
        ValidateSizeAdviceForm(texts),
        ActionAskSlot(HEIGHT, texts.ask_height),
        ActionAskSlot(WEIGHT, texts.ask_weight),
        ActionRecommendSize(size_chart, texts),
    ]
    return {action.name(): action for action in actions}
