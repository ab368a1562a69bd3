"""Dialogue actions that act on the store (orders, products), beside the operations they call.

They follow rasa-sdk's contract like the language actions of `intents.actions`, and join them in one
registry (`build_store_actions`) that the in-process dialogue and `chatshop actions serve` share.
"""

from __future__ import annotations

from rasa_sdk import Action

from bot.actions.handoff import ActionHandOff
from bot.actions.orders import ActionHandleRequest
from bot.actions.products import ActionSearchProduct
from bot.actions.store import Store
from intents.actions import ActionTexts

__all__ = ["Store", "build_store_actions"]


def build_store_actions(store: Store | None, texts: ActionTexts) -> dict[str, Action]:
    """The store's actions, by name, to merge into `intents.actions.build_actions`'s. With the store's
    handoff desk, `action_request_human` queues the customer for a person instead of only marking the
    dialogue state."""
    actions: list[Action] = [ActionHandleRequest(store), ActionSearchProduct(store, texts)]
    if store is not None and store.handoff is not None:
        actions.append(ActionHandOff(store.handoff))
    return {action.name(): action for action in actions}
