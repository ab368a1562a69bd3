"""The dialogue policy: what the bot does with each message.

Events and taps are answered directly (welcome + menu on follow, a tapped FAQ). A text message is
parsed (intent with confidence, entities), then one turn runs rasa-sdk actions in-process against
the customer's tracker, as Rasa's core would:

1. a size form in progress takes the message if it fills height or weight;
2. ask_human or a complaint → hand off to a person (marked on the dialogue state); a complaint the
   KB has an answer for gets that answer first;
3. size_advice → the size form (asks for what is missing, then recommends a size);
4. greet / thanks / goodbye → small talk, unless the message is also a question the KB answers;
5. order requests (status, tracking, return, cancel, address), or any message with an order number →
   answered from the commerce core (`bot.actions.orders`: the customer's own orders only, a menu of the
   recent ones when no number is given, a yes/no question before cancelling); a question about the
   policy itself ("怎么退货") goes to the KB;
6. a product search naming a product, colour or size, or one the KB has no answer for ("有没有帽子")
   → the catalog: product cards, or the closest categories as a menu whose taps search them;
7. otherwise the knowledge base: answer, clarify with a "猜你想问" menu, or the two-stage
   fallback (ask to rephrase; if the next message fails too, offer a person; if the one after that
   fails as well, hand off).

A conversation a person owns never reaches the dialogue: the webhook asks `bot.handoff` first.

A mini-program page the customer sends (mini-program service) is answered about its product: prices
and what is in stock. Cards the actions compose are made sendable (the store's appid, a thumbnail
uploaded to the channel's account) before they are returned, so before they reach the outbox.
After each turn the tag rules see what it understood and did (`TagTriggers.on_turn`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rasa_sdk import Action
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions import build_store_actions
from bot.actions.orders import CONFIRM_ITEM_PREFIX, ORDER_ITEM_PREFIX
from bot.actions.products import SEARCH_ITEM_PREFIX, shared_product_id
from bot.cards.resolver import CardResolver
from bot.config import DialogueConfig
from bot.customers.tag_triggers import TagTriggers, TurnFacts
from bot.inbound import Inbound
from bot.models import Channel
from bot.outgoing import MenuItem, MiniProgramCard, MsgMenu, Outgoing, Text, TransferToKf
from bot.tracker import DialogueSnapshot, MemoryTrackerStore, TrackerStore
from intents.actions import DOMAIN, FaqLookup, SizeChart, build_actions
from intents.actions.domain import (
    ACTION_ANSWER_FAQ,
    ACTION_ASK_HEIGHT,
    ACTION_ASK_REPHRASE,
    ACTION_ASK_WEIGHT,
    ACTION_CLARIFY,
    ACTION_HANDLE_REQUEST,
    ACTION_LISTEN,
    ACTION_OFFER_HUMAN,
    ACTION_RECOMMEND_SIZE,
    ACTION_REQUEST_HUMAN,
    ACTION_SEARCH_PRODUCT,
    ACTION_SMALL_TALK,
    ACTION_VALIDATE_SIZE_FORM,
    CATEGORY_ENTITY,
    FAQ_ID_ENTITY,
    HANDOFF_MENU_ID,
    HANDOFF_REASON,
    HEIGHT,
    MEASURE_CHECK,
    PENDING_CONFIRMATION,
    PENDING_REQUEST,
    PRODUCT_ID_ENTITY,
    REQUEST_INTENTS,
    REQUESTED_SLOT,
    SIZE_FORM,
    SMALL_TALK_INTENTS,
    WEIGHT,
)
from intents.actions.faq import last_bot_action, previous_user_text
from intents.actions.plausibility import questioned_slot
from intents.actions.replies import ActionTexts
from intents.actions.size import SizeRow
from intents.kb import MatchResult, Outcome
from intents.kb_source import KnowledgeBaseSource
from intents.nlu.address import parse_address
from intents.nlu.confirm import yes_or_no
from intents.nlu.parser import FALLBACK_INTENT, NluParser, ParseResult
from intents.search import SearchTerms
from storage.clock import utcnow

logger = logging.getLogger(__name__)

# Message kinds the bot reads; anything else (location, link, unknown types) gets no answer.
MEDIA_KINDS = frozenset({"image", "voice", "video", "shortvideo"})
MEDIA_REPLY = "收到啦～目前我只能看懂文字，请用文字描述您的问题，或回复「人工」联系客服。"
CLICK_FAQ_PREFIX = "faq:"
FORM_SLOTS = (HEIGHT, WEIGHT)
ASK_SLOT_ACTIONS = {HEIGHT: ACTION_ASK_HEIGHT, WEIGHT: ACTION_ASK_WEIGHT}
# Used when the store gives no size chart of its own.
GENERIC_SIZE_CHART = SizeChart([
    SizeRow("S", 158, 47), SizeRow("M", 165, 54), SizeRow("L", 170, 61), SizeRow("XL", 175, 68),
    SizeRow("XXL", 180, 76),
])

# The dialogue state's handoff reason when a tag rule, not the message, asks for a person.
RULE_REASON = "rule"

# Locks that keep one customer's turns in order; a customer always maps to the same one, and many
# customers share each (a lock per customer would grow without bound).
_TURN_LOCK_STRIPES = 64

# Records a message the knowledge base could not answer (fallback) or was unsure of (suggest).
UnansweredRecorder = Callable[[Inbound, Outcome], None]
# Records the FAQ a customer tapped in the "猜你想问" menu their last question got: their words for it.
ChoiceRecorder = Callable[[Inbound, str], None]


class Responder(Protocol):
    """Anything that answers an inbound message with messages to send."""

    def respond(self, inbound: Inbound, *, state: DialogueSnapshot | None = None) -> list[Outgoing]:
        """`state` is the customer's dialogue state if the caller read it already (the webhook's claim)."""
        ...


@dataclass
class Turn:
    """One customer message being handled: the tracker state and what the actions said."""

    inbound: Inbound
    state: DialogueSnapshot
    messages: list[dict[str, Any]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # the actions run, in order
    heard: bool = False  # the turn parsed a message (latest_message is this turn's)

    @property
    def sender_id(self) -> str:
        return f"{self.inbound.channel}:{self.inbound.openid}"


class Dialogue:
    def __init__(
        self,
        *,
        kb: KnowledgeBaseSource,
        config: DialogueConfig,
        nlu: NluParser | None = None,
        faqs: FaqLookup | None = None,
        actions: Mapping[str, Action] | None = None,
        trackers: TrackerStore | None = None,
        record_unanswered: UnansweredRecorder | None = None,
        record_choice: ChoiceRecorder | None = None,
        cards: CardResolver | None = None,
        search_terms: SearchTerms | None = None,
        tags: TagTriggers | None = None,
    ) -> None:
        """Without `nlu` every text goes to the knowledge base; without `trackers` state lives in memory.
        `faqs` should be the lookup the `actions` were built with, so they share its recent matches.
        `cards` makes the actions' cards sendable (appid, thumbnail); without it they go as composed.
        `search_terms` lets a product search that names no product the NLU knows reach the catalog.
        `tags` applies the tag rules to what each turn understood and did."""
        self._config = config
        self._nlu = nlu
        self.kb = kb  # the back office edits it and tries sentences on it
        self._faqs = faqs or FaqLookup(kb)
        texts = ActionTexts(rephrase=config.fallback)
        self._actions = actions or (build_actions(faqs=self._faqs, size_chart=GENERIC_SIZE_CHART, texts=texts)
                                    | build_store_actions(None, texts))
        self._trackers = trackers or MemoryTrackerStore()
        self._record_unanswered = record_unanswered
        self._record_choice = record_choice
        self._cards = cards
        self._search_terms = search_terms
        self._tags = tags
        self._turn_locks = tuple(threading.Lock() for _ in range(_TURN_LOCK_STRIPES))

    @property
    def faqs(self) -> FaqLookup:
        return self._faqs

    def respond(self, inbound: Inbound, *, state: DialogueSnapshot | None = None) -> list[Outgoing]:
        if inbound.kind in ("subscribe", "user_enter_tempsession"):
            return self._welcome(inbound.channel)
        if inbound.kind == "click" and inbound.event_key.startswith(CLICK_FAQ_PREFIX):
            return self._turn(inbound, state, lambda turn: self._answer_tap(turn, inbound.event_key.removeprefix(
                CLICK_FAQ_PREFIX)))
        if inbound.kind == "text":
            if inbound.menu_id:
                return self._turn(inbound, state, lambda turn: self._answer_tap(turn, inbound.menu_id))
            return self._turn(inbound, state, self._understand)
        if inbound.kind == "miniprogrampage":
            return self._turn(inbound, state, self._answer_shared_card)
        if inbound.kind in MEDIA_KINDS:
            return [Text(MEDIA_REPLY)]
        return []

    def _welcome(self, channel: Channel) -> list[Outgoing]:
        welcome = Text(self._config.welcome if channel is Channel.OA else self._config.mp_welcome)
        popular = self._faqs.popular(self._config.menu_size)
        if not popular:
            return [welcome]
        if channel is Channel.MP:
            # Mini-program service cannot send menus: list the questions in the text instead.
            lines = "\n".join(f"· {faq.question}" for faq in popular)
            return [Text(f"{self._config.mp_welcome}\n{self._config.menu_head}\n{lines}")]
        items = tuple(MenuItem(id=faq.id, content=faq.question) for faq in popular)
        return [welcome, MsgMenu(head=self._config.menu_head, items=items, tail=self._config.menu_tail)]

    # -- one turn ----------------------------------------------------------------------------

    def _turn(self, inbound: Inbound, state: DialogueSnapshot | None, handle: Callable[[Turn], None]) -> list[Outgoing]:
        # Two messages from one customer handled at once would both start from the same state and
        # the later save would drop the other turn; one customer's turns take their stripe's lock.
        # The save is queued before the lock is released, and the next turn's load is queued after it (a
        # state read with the message's claim, before the lock, gives way to one saved since).
        with self._turn_locks[hash((inbound.channel, inbound.openid)) % _TURN_LOCK_STRIPES]:
            turn = Turn(inbound, self._trackers.load(inbound.channel, inbound.openid, read_at_claim=state))
            handle(turn)
            facts = self._turn_facts(turn)
            if facts is not None and ACTION_REQUEST_HUMAN not in turn.ran and self._rule_hands_off(facts):
                self._hand_off(turn, reason=RULE_REASON)
            turn.state.turns += 1
            turn.state.apply([{"event": "action", "name": ACTION_LISTEN, "timestamp": utcnow().timestamp()}])
            self._trackers.save(inbound.channel, inbound.openid, turn.state)
        if facts is not None:
            self._apply_tag_rules(facts)
        return to_outgoing(turn.messages, inbound.channel, self._cards, conversation=turn.state.customer_id)

    def _turn_facts(self, turn: Turn) -> TurnFacts | None:
        if self._tags is None:
            return None
        try:
            parsed = turn.state.latest_message if turn.heard else {}
            return TurnFacts.of_turn(turn.inbound, parsed, turn.ran, self._faqs)
        except Exception:  # the customer still gets the answer; the tags miss one turn
            logger.exception("could not read a turn for the tag rules")
            return None

    def _rule_hands_off(self, facts: TurnFacts) -> bool:
        assert self._tags is not None
        try:
            return self._tags.hands_off(facts)
        except Exception:
            logger.exception("could not read the tag rules' handoffs")
            return False

    def _apply_tag_rules(self, facts: TurnFacts) -> None:
        assert self._tags is not None
        try:
            self._tags.on_turn(facts)
        except Exception:  # the customer still gets the answer; the tags miss one turn
            logger.exception("could not apply the tag rules to a turn")

    def _hand_off(self, turn: Turn, *, reason: str | None = None) -> None:
        """Run the handoff action; `reason` says why when the message alone does not (a tag rule)."""
        turn.state.apply([SlotSet(HANDOFF_REASON, reason)])
        self._run(turn, ACTION_REQUEST_HUMAN)

    def _answer_tap(self, turn: Turn, item_id: str) -> None:
        if item_id.startswith((ORDER_ITEM_PREFIX, CONFIRM_ITEM_PREFIX)):
            self._answer_order_tap(turn, item_id)
            return
        if item_id.startswith(SEARCH_ITEM_PREFIX):  # a category offered when a search found nothing
            self._search_for(turn, CATEGORY_ENTITY, item_id.removeprefix(SEARCH_ITEM_PREFIX))
            return
        if item_id == HANDOFF_MENU_ID:
            # Rasa's conventional intent for saying yes to what the bot offered.
            self._hear(turn, {"text": turn.inbound.content, "intent": {"name": "affirm", "confidence": 1.0},
                              "entities": []})
            self._hand_off(turn)
            return
        entity = {"entity": FAQ_ID_ENTITY, "value": item_id, "start": 0, "end": len(turn.inbound.content),
                  "extractor": "menu"}
        self._hear(turn, {"text": turn.inbound.content, "intent": {"name": "faq", "confidence": 1.0},
                          "entities": [entity]})
        self._note_pick(turn, item_id)
        self._run(turn, ACTION_ANSWER_FAQ)

    def _answer_order_tap(self, turn: Turn, item_id: str) -> None:
        """One of the customer's orders picked from a menu, or yes/no to a question about one."""
        if item_id.startswith(ORDER_ITEM_PREFIX):
            request, _, order_no = item_id.removeprefix(ORDER_ITEM_PREFIX).partition(":")
            entity = {"entity": "order_no", "value": order_no, "start": 0, "end": len(turn.inbound.content),
                      "extractor": "menu"}
            self._hear(turn, {"text": turn.inbound.content, "intent": {"name": request, "confidence": 1.0},
                              "entities": [entity]})
        else:
            answer, _, key = item_id.removeprefix(CONFIRM_ITEM_PREFIX).partition(":")
            if key != turn.state.slots.get(PENDING_CONFIRMATION):
                return  # a tap on an old question, already settled: nothing to do
            self._hear(turn, _confirmation(turn.inbound.content, "affirm" if answer == "yes" else "deny"))
        self._run(turn, ACTION_HANDLE_REQUEST)

    def _answer_shared_card(self, turn: Turn) -> None:
        """A mini-program page the customer sent from the mini-program: its product's prices and stock,
        or, for another page, the products its title names."""
        fields = turn.inbound.fields
        title = str(fields.get("Title") or "")
        product_id = shared_product_id(str(fields.get("PagePath") or ""))
        self._search_for(turn, PRODUCT_ID_ENTITY if product_id else None, product_id or "", text=title)

    def _search_for(self, turn: Turn, entity: str | None, value: str, *, text: str | None = None) -> None:
        """Product search for something the customer picked rather than typed (a category, a product)."""
        text = turn.inbound.content if text is None else text
        picked = {"entity": entity, "value": value, "start": 0, "end": len(text), "extractor": "menu"}
        found = [picked] if entity else []
        self._hear(turn, {"text": text, "intent": {"name": "product_search", "confidence": 1.0}, "entities": found})
        self._run(turn, ACTION_SEARCH_PRODUCT)

    def _understand(self, turn: Turn) -> None:
        text = turn.inbound.content
        if turn.state.slots.get(PENDING_CONFIRMATION) and self._settle_confirmation(turn, text):
            return
        parsed = self._nlu.parse(text) if self._nlu else None
        self._hear(turn, parsed.as_latest_message() if parsed else {"text": text, "intent": {}, "entities": []})
        intent = parsed.intent if parsed else FALLBACK_INTENT
        if turn.state.active_loop == SIZE_FORM and self._continue_form(turn, intent, parsed):
            return
        if intent == "complaint" and self._faqs.match(text).outcome is Outcome.ANSWER:
            # What the shop does about it (the KB's answer), and a person to see to it.
            self._run(turn, ACTION_ANSWER_FAQ)
            self._hand_off(turn)
        elif intent in ("ask_human", "complaint"):
            self._hand_off(turn)
        elif intent == "size_advice":
            self._start_form(turn)
        elif intent in SMALL_TALK_INTENTS and self._faqs.match(text).outcome is not Outcome.ANSWER:
            self._run(turn, ACTION_SMALL_TALK)
        elif parsed is not None and self._wants_order_request(turn, parsed, intent):
            self._run(turn, ACTION_HANDLE_REQUEST)
        elif parsed is not None and intent == "product_search" and self._wants_product_search(turn, parsed):
            self._run(turn, ACTION_SEARCH_PRODUCT)
        else:
            self._ask_knowledge_base(turn)

    def _settle_confirmation(self, turn: Turn, text: str) -> bool:
        """A yes or no typed to the open question (mini-program service shows its choices as text);
        anything else moves on, and the question is dropped."""
        said = yes_or_no(text)
        if said is None:
            turn.state.apply([SlotSet(PENDING_CONFIRMATION, None)])
            return False
        self._hear(turn, _confirmation(text, "affirm" if said else "deny"))
        self._run(turn, ACTION_HANDLE_REQUEST)
        return True

    def _wants_product_search(self, turn: Turn, parsed: ParseResult) -> bool:
        # A product named by name, colour or size is searched for. "有没有帽子" names none the NLU knows
        # (the catalog may not sell it) but still names something: searched for too, unless the KB
        # answers it ("有大码吗"). "有啥推荐" names nothing to search for: the KB's menu helps more.
        if _names_a_product(parsed):
            return True
        text = turn.inbound.content
        names_something = self._search_terms is not None and bool(self._search_terms.terms(text))
        return names_something and self._faqs.match(text).outcome is not Outcome.ANSWER

    def _wants_order_request(self, turn: Turn, parsed: ParseResult, intent: str) -> bool:
        if parsed.entity_values("order_no"):
            return True  # with its number (or the number alone) it is about that order
        if turn.state.slots.get(PENDING_REQUEST) == "change_address" and parse_address(turn.inbound.content):
            return True  # the new address the bot asked for
        if intent not in REQUEST_INTENTS:
            return False
        # "我要退货" asks for something to be done; "怎么退货" or "默认哪家快递" ask about the shop's
        # policy, which the KB answers when it can.
        text = turn.inbound.content
        about_mine = bool(_ABOUT_MINE.search(text)) and not _HOW_TO.search(text)
        if about_mine or _ORDER_COMMAND.match(text):
            return True
        return self._faqs.match(text).outcome is not Outcome.ANSWER

    def _ask_knowledge_base(self, turn: Turn) -> None:
        result = self._faqs.match(turn.inbound.content)
        if result.outcome is Outcome.ANSWER:
            if result.best is not None:  # typed instead of tapped (the mini-program lists the guesses as text)
                self._note_pick(turn, result.best.faq.id)
            self._run(turn, ACTION_ANSWER_FAQ)
            return
        self._note_unanswered(turn.inbound, result)
        last = last_bot_action(turn.state.tracker(turn.sender_id))
        if result.outcome is Outcome.SUGGEST:
            self._run(turn, ACTION_CLARIFY)
        elif last == ACTION_ASK_REPHRASE:
            self._run(turn, ACTION_OFFER_HUMAN)
        elif last == ACTION_OFFER_HUMAN:  # the second fallback failed too: a person takes over
            self._hand_off(turn)
        else:
            self._run(turn, ACTION_ASK_REPHRASE)

    def _note_pick(self, turn: Turn, faq_id: str) -> None:
        """The customer's answer to the 猜你想问 guesses their last question got: the FAQ they tapped or were
        answered with, if it was one of those offered (a tap's id is whatever the customer's client sent)."""
        if self._record_choice is None:
            return
        tracker = turn.state.tracker(turn.sender_id)
        if last_bot_action(tracker) != ACTION_CLARIFY:
            return
        asked = previous_user_text(tracker)
        if not asked or faq_id not in {candidate.faq.id for candidate in self._faqs.match(asked).candidates}:
            return
        try:
            self._record_choice(turn.inbound, faq_id)
        except Exception:  # the customer still gets the answer; the gap report misses one choice
            logger.exception("could not record a menu choice")

    def _note_unanswered(self, inbound: Inbound, result: MatchResult) -> None:
        if self._record_unanswered is None:
            return
        try:
            self._record_unanswered(inbound, result.outcome)
        except Exception:  # the customer still gets an answer; the gap report loses one line
            logger.exception("could not record an unanswered question")

    # -- the size form -------------------------------------------------------------------------

    def _start_form(self, turn: Turn) -> None:
        # The form's event comes last: rasa_sdk validates the slot events at the end of the tracker.
        turn.state.apply([SlotSet(HEIGHT, None), SlotSet(WEIGHT, None), SlotSet(MEASURE_CHECK, None),
                          ActiveLoop(SIZE_FORM)])
        self._fill_form(turn)

    def _continue_form(self, turn: Turn, intent: str, parsed: ParseResult | None) -> bool:
        """Let the active form take the message; False when the customer moved on to something else."""
        # An order number's digits would read as a (refused) height or weight: the customer has
        # moved on to an order, whatever the form was waiting for.
        about_an_order = parsed is not None and bool(parsed.entity_values("order_no"))
        filled = not about_an_order and self._fill_form(
            turn, interruptible=intent not in (FALLBACK_INTENT, "size_advice")
        )
        if not filled:
            turn.state.apply([ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)])
        return filled

    def _fill_form(self, turn: Turn, *, interruptible: bool = False) -> bool:
        """Validate what the message gives, then ask for the next slot or recommend a size."""
        said_before = len(turn.messages)
        events = self._run(turn, ACTION_VALIDATE_SIZE_FORM)
        # A "不是" to a doubtful figure changes only the measure check, and is an answer all the same.
        filled = any(e.get("event") == "slot" and e.get("name") in (*FORM_SLOTS, MEASURE_CHECK) for e in events)
        if interruptible and not filled:
            del turn.messages[said_before:]
            return False
        missing = [slot for slot in FORM_SLOTS if turn.state.slots.get(slot) is None]
        if missing:
            # A figure in question is asked about first, so a bare "是" or number answers it.
            in_question = questioned_slot(turn.state.slots.get(MEASURE_CHECK))
            ask = in_question if in_question in missing else missing[0]
            turn.state.apply([SlotSet(REQUESTED_SLOT, ask)])
            if len(turn.messages) == said_before:  # no validation complaint already asked for it
                self._run(turn, ASK_SLOT_ACTIONS[ask])
            return True
        turn.state.apply([SlotSet(REQUESTED_SLOT, None), ActiveLoop(None)])
        self._run(turn, ACTION_RECOMMEND_SIZE)
        return True

    # -- running actions -------------------------------------------------------------------------

    def _hear(self, turn: Turn, parse_data: dict[str, Any]) -> None:
        turn.state.latest_message = parse_data
        turn.heard = True
        turn.state.apply([{"event": "user", "timestamp": utcnow().timestamp(), "text": parse_data.get("text"),
                           "parse_data": parse_data, "input_channel": f"wechat_{turn.inbound.channel}"}])

    def _run(self, turn: Turn, name: str) -> list[EventType]:
        """Run one action on the turn's tracker, apply its events, keep what it said."""
        dispatcher = CollectingDispatcher()
        tracker = turn.state.tracker(turn.sender_id)
        events: list[EventType] = run_coroutine(self._actions[name].run(dispatcher, tracker, DOMAIN)) or []
        turn.ran.append(name)
        now = utcnow().timestamp()
        turn.state.apply([{"event": "action", "name": name, "timestamp": now}, *events])
        turn.state.apply([{"event": "bot", "timestamp": now, "text": m.get("text"), "data": m.get("custom")}
                          for m in dispatcher.messages])
        turn.messages.extend(dispatcher.messages)
        return events


# How a customer asks about a policy rather than for something to be done to their order.
_HOW_TO = re.compile(r"怎么|怎样|如何|能不能|能否|可不可以|可以|规则|流程|多久|几天")
# A bare command about an order ("取消订单", "改地址"): something to be done, though the KB explains it too.
# (A cancel is confirmed before it is done and an address is asked for; a return is filed at once, so
# "退货" alone stays a policy question.)
_ORDER_COMMAND = re.compile(
    r"^(帮我|请|我要)?(取消(这个|这笔)?订单|取消这单|(修|更)?改(收货)?地址|换(收货)?地址)[吧了啊呀。!！]*$"
)
# A customer speaking of their own order or parcel.
_ABOUT_MINE = re.compile(r"我的|我要|我想|帮我|给我|我买|我下|我拍|我刚|我昨|我前|我那")


def _confirmation(text: str, intent: str) -> dict[str, Any]:
    return {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}


def _names_a_product(parsed: ParseResult) -> bool:
    return any(parsed.entity_values(kind) for kind in ("product", "colour", "size"))


_loops = threading.local()


def run_coroutine(coroutine: Any) -> Any:
    """Run an action's coroutine on this worker thread's own event loop (a loop per thread avoids
    creating one per message).

    Actions do no I/O, so they finish at their first step: that step runs by hand, with the thread's
    loop set as the running one (so asyncio calls inside behave as under the loop), which spares a
    round of the loop's scheduler (a task, two polls), measured to cost more than most actions. One
    that suspends after all is carried on by the loop."""
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = _loops.loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)
    try:
        suspended_on = coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    finally:
        asyncio.events._set_running_loop(None)
    return loop.run_until_complete(_carry_on(coroutine, suspended_on))


async def _carry_on(coroutine: Any, suspended_on: Any) -> Any:
    """Go on with a coroutine stepped by hand as an asyncio task would: wait until what it suspended on
    (a future, or nothing for a bare yield) is done, then resume it; the future's outcome, a result or
    an exception, reaches the coroutine where it awaited it."""
    while True:
        if suspended_on is None:
            await asyncio.sleep(0)
        else:
            await asyncio.wait([suspended_on])
        try:
            suspended_on = coroutine.send(None)
        except StopIteration as finished:
            return finished.value


# -- what the actions said, as WeChat messages -------------------------------------------------------


def to_outgoing(
    messages: list[dict[str, Any]], channel: Channel, cards: CardResolver | None = None, *,
    conversation: int | None = None,
) -> list[Outgoing]:
    """What the actions said as WeChat messages. Cards are made sendable here, before the outbox
    (`cards`: the store's appid, a thumbnail of the channel's account); a card that cannot be becomes
    a line of the text before it. A card's page names the `conversation` it was sent in (the customer
    row), so that its opening is tied to the chat (`card_opens.conversation`)."""
    replies: list[Outgoing] = []
    for message in messages:
        custom = message.get("custom") or {}
        if "msgmenu" in custom:
            replies.append(_menu(custom["msgmenu"], channel))
        elif "miniprogrampage" in custom:
            _add_card(replies, with_conversation(custom["miniprogrampage"], conversation), channel, cards)
        elif "transfer_customer_service" in custom:
            replies.append(TransferToKf(str(custom["transfer_customer_service"].get("kf_account") or "")))
        elif message.get("text"):
            replies.append(Text(str(message["text"])))
    return replies


def with_conversation(card: dict[str, Any], conversation: int | None) -> dict[str, Any]:
    """A product card (`src=card`) with `conversation=<id>` added to its page's query."""
    pagepath = str(card.get("pagepath") or "")
    if conversation is None or "src=card" not in pagepath or "conversation=" in pagepath:
        return card
    joiner = "&" if "?" in pagepath else "?"
    return {**card, "pagepath": f"{pagepath}{joiner}conversation={conversation}"}


def _add_card(replies: list[Outgoing], card: dict[str, Any], channel: Channel, cards: CardResolver | None) -> None:
    if cards is None:
        replies.append(MiniProgramCard(card["title"], str(card.get("appid") or ""), card["pagepath"],
                                       str(card.get("thumb_media_id") or "")))
        return
    reply = cards.resolve(card, channel)
    if isinstance(reply, Text) and replies and isinstance(replies[-1], Text):
        # One message rather than two: every customer-service message spends the customer's quota.
        replies[-1] = Text(f"{replies[-1].content}\n{reply.content}")
    else:
        replies.append(reply)


def _menu(menu: dict[str, Any], channel: Channel) -> Outgoing:
    items = tuple(MenuItem(id=str(item["id"]), content=str(item["content"])) for item in menu["list"])
    if channel is Channel.MP:
        # Mini-program service cannot send menus: the choices become lines of text.
        lines = "\n".join(f"· {item.content}" for item in items)
        return Text("\n".join(part for part in (menu["head_content"], lines, menu["tail_content"]) if part))
    return MsgMenu(head=menu["head_content"], items=items, tail=menu["tail_content"])
