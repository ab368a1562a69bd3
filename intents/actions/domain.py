"""Names the dialogue shares with Rasa: intents, entities, slots, the size form and the actions.

`DOMAIN` is what a Rasa domain.yml would hold for these actions; the bot passes it to the actions
in-process, and a Rasa server sends its own (which must declare the same form and slots).
"""

from __future__ import annotations

from typing import Any

from intents.nlu.entities import ENTITY_TYPES

# Intents the bot acts on (the classifier may know more; unknown ones go to the knowledge base).
SMALL_TALK_INTENTS = ("greet", "thanks", "goodbye")
REQUEST_INTENTS = ("order_status", "track_package", "return_request", "cancel_order", "change_address")
# Saying yes or no to what the bot asked (a tapped menu item, or 是/不 while a question is open).
CONFIRM_INTENTS = ("affirm", "deny")
INTENTS = (
    *SMALL_TALK_INTENTS, "ask_human", "complaint", *REQUEST_INTENTS, "product_search", "size_advice", "faq",
    "out_of_scope", *CONFIRM_INTENTS,
)

SIZE_FORM = "size_advice_form"
REQUESTED_SLOT = "requested_slot"  # rasa_sdk.forms.REQUESTED_SLOT
HEIGHT, WEIGHT = "height", "weight"
# The size form's doubts about a height or weight no adult shopper has (intents/actions/plausibility.py).
MEASURE_CHECK = "measure_check"
# Set by action_request_human: when and why the customer asked for (or was offered) a person.
HANDOFF_AT, HANDOFF_REASON = "handoff_requested_at", "handoff_reason"
# A request (order_status, ...) waiting for the order number it needs.
PENDING_REQUEST = "pending_request"
# A request waiting for the customer's yes or no, as "<request>:<order_no>" (cancel_order:2026...).
PENDING_CONFIRMATION = "pending_confirmation"
# A tapped "猜你想问" item or an FAQ chosen by the caller, as an entity of the latest message.
FAQ_ID_ENTITY = "faq_id"
# What a product search was given rather than typed: a category tapped in the "nothing found" menu,
# or the product of a mini-program card the customer sent.
CATEGORY_ENTITY = "category"
PRODUCT_ID_ENTITY = "product_id"

ACTION_ANSWER_FAQ = "action_answer_faq"
ACTION_CLARIFY = "action_clarify"
ACTION_ASK_REPHRASE = "action_ask_rephrase"
ACTION_OFFER_HUMAN = "action_offer_human"
ACTION_REQUEST_HUMAN = "action_request_human"
ACTION_SMALL_TALK = "action_small_talk"
ACTION_HANDLE_REQUEST = "action_handle_request"
ACTION_SEARCH_PRODUCT = "action_search_product"
ACTION_VALIDATE_SIZE_FORM = f"validate_{SIZE_FORM}"
ACTION_ASK_HEIGHT = f"action_ask_{HEIGHT}"
ACTION_ASK_WEIGHT = f"action_ask_{WEIGHT}"
ACTION_RECOMMEND_SIZE = "action_recommend_size"
ACTION_LISTEN = "action_listen"

# The menu item id that asks for a person (not a valid FAQ id, so the two never clash).
HANDOFF_MENU_ID = "action:request_human"


def _custom_slot(kind: str, form: bool = False) -> dict[str, Any]:
    mapping: dict[str, Any] = {"type": "custom"}
    if form:
        mapping["conditions"] = [{"active_loop": SIZE_FORM}]
    return {"type": kind, "influence_conversation": False, "mappings": [mapping]}


DOMAIN: dict[str, Any] = {
    "version": "3.1",
    "intents": list(INTENTS),
    "entities": [*ENTITY_TYPES, FAQ_ID_ENTITY, CATEGORY_ENTITY, PRODUCT_ID_ENTITY],
    "slots": {
        HEIGHT: _custom_slot("float", form=True),
        WEIGHT: _custom_slot("float", form=True),
        MEASURE_CHECK: _custom_slot("any", form=True),
        REQUESTED_SLOT: _custom_slot("text"),
        HANDOFF_AT: _custom_slot("text"),
        HANDOFF_REASON: _custom_slot("text"),
        PENDING_REQUEST: _custom_slot("text"),
        PENDING_CONFIRMATION: _custom_slot("text"),
        "order_no": _custom_slot("text"),
        "phone": _custom_slot("text"),
        "product": _custom_slot("text"),
        "size": _custom_slot("text"),
        "colour": _custom_slot("text"),
    },
    "forms": {SIZE_FORM: {"required_slots": [HEIGHT, WEIGHT]}},
    "actions": [
        ACTION_ANSWER_FAQ, ACTION_CLARIFY, ACTION_ASK_REPHRASE, ACTION_OFFER_HUMAN, ACTION_REQUEST_HUMAN,
        ACTION_SMALL_TALK, ACTION_HANDLE_REQUEST, ACTION_SEARCH_PRODUCT, ACTION_VALIDATE_SIZE_FORM,
        ACTION_ASK_HEIGHT, ACTION_ASK_WEIGHT, ACTION_RECOMMEND_SIZE,
    ],
}


def initial_slots() -> dict[str, Any]:
    return dict.fromkeys(DOMAIN["slots"])
