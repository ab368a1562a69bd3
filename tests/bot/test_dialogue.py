"""The dialogue policy turn by turn: forms, two-stage fallback, handoff, order requests, small talk.

The bot runs here in-process with the demo KB, the demo training data and a memory tracker store;
test_dialogue_conversations.py runs whole conversations through the live webhook and the database.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.actions import build_store_actions
from bot.config import DialogueConfig
from bot.dialogue import Dialogue
from bot.inbound import Inbound
from bot.models import Channel
from bot.outgoing import MiniProgramCard, MsgMenu, Outgoing, Text
from bot.tracker import DialogueSnapshot, MemoryTrackerStore
from chatshop.dialogue_setup import catalog_file_names, train_parser
from chatshop.settings import BotSettings
from intents.actions import ActionTexts, FaqLookup, SizeChart, build_actions
from intents.actions.domain import HANDOFF_MENU_ID
from intents.kb import Outcome
from intents.kb_source import KnowledgeBaseSource
from intents.nlu.parser import NluParser
from intents.nlu.training_data import read_training_data
from tests.support import DEMO_KB

ROOT = Path(__file__).parents[2]
BOT = BotSettings()
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def language() -> tuple[KnowledgeBaseSource, NluParser]:
    kb = KnowledgeBaseSource(DEMO_KB)
    titles = catalog_file_names(ROOT / "chatshop" / "demo" / "catalog.yaml")
    parser = train_parser(read_training_data(ROOT / "chatshop" / "demo" / "nlu.yml"), kb.tokeniser, lambda: titles,
                          threshold=0.5)
    return kb, parser


class Bot:
    """The dialogue with its tracker store and the unanswered questions it reported."""

    def __init__(self, kb: KnowledgeBaseSource, parser: NluParser, store: MemoryTrackerStore | None = None) -> None:
        faqs = FaqLookup(kb)
        texts = ActionTexts(rephrase=BOT.fallback)
        actions = build_actions(faqs=faqs, size_chart=SizeChart.load(ROOT / "chatshop" / "demo" / "size_chart.yaml"),
                                texts=texts) | build_store_actions(None, texts)
        self.store = store or MemoryTrackerStore()
        self.unanswered: list[tuple[str, Outcome]] = []
        self.choices: list[tuple[str, str]] = []  # (openid, FAQ tapped in a 猜你想问 menu)
        self.dialogue = Dialogue(kb=kb, config=DialogueConfig(**BOT.model_dump()), nlu=parser, faqs=faqs,
                                 actions=actions, trackers=self.store,
                                 record_unanswered=lambda inbound, outcome: self.unanswered.append(
                                     (inbound.content, outcome)),
                                 record_choice=lambda inbound, faq_id: self.choices.append((inbound.openid, faq_id)))

    def says(self, text: str, *, openid: str = "o_alice", channel: Channel = Channel.OA,
             menu_id: str = "") -> list[Outgoing]:
        number = next(_ids)
        return self.dialogue.respond(Inbound(channel=channel, openid=openid, kind="text", create_time=number,
                                             msg_id=number, content=text, menu_id=menu_id))

    def state(self, openid: str = "o_alice", channel: Channel = Channel.OA) -> DialogueSnapshot:
        return self.store.load(channel, openid)


@pytest.fixture
def bot(language: tuple[KnowledgeBaseSource, NluParser]) -> Bot:
    return Bot(*language)


def texts(replies: list[Outgoing]) -> list[str]:
    return [reply.content for reply in replies if isinstance(reply, Text)]


def only_text(replies: list[Outgoing]) -> str:
    [reply] = replies
    assert isinstance(reply, Text), reply
    return reply.content


def test_size_form_fills_height_and_weight_over_several_turns(bot: Bot) -> None:
    # When the customer asks for a size without giving any measure, the form asks for the height
    assert "身高" in only_text(bot.says("我穿什么码"))
    state = bot.state()
    assert (state.active_loop, state.slots["requested_slot"]) == ("size_advice_form", "height")
    # a bare number answers it, and the weight is asked for
    assert "体重" in only_text(bot.says("165"))
    assert (bot.state().slots["height"], bot.state().slots["requested_slot"]) == (165.0, "weight")
    # then the size comes from the chart and the form is done
    assert "推荐您选 M 码" in only_text(bot.says("一百斤"))
    state = bot.state()
    assert state.active_loop is None
    assert (state.slots["height"], state.slots["weight"], state.slots["size"]) == (None, None, "M")


def test_size_form_takes_both_measures_from_one_message(bot: Bot) -> None:
    assert "推荐您选 L 码" in only_text(bot.says("我一米六八 一百一十斤 穿什么码"))
    assert bot.state().active_loop is None


def test_an_implausible_answer_is_asked_again(bot: Bot) -> None:
    bot.says("帮我推荐下尺码")
    assert "100–230 厘米" in only_text(bot.says("15"))
    assert bot.state().slots["requested_slot"] == "height"


def test_the_form_gives_way_when_the_customer_moves_on(bot: Bot) -> None:
    bot.says("我穿什么码")
    # the customer asks for a person instead of answering
    assert "人工客服" in only_text(bot.says("转人工"))
    state = bot.state()
    assert state.active_loop is None
    assert state.slots["handoff_reason"] == "asked"


def test_an_order_number_during_the_form_is_taken_as_an_order_request(bot: Bot) -> None:
    # Given a size form waiting for the customer's height
    bot.says("我穿什么码")
    # When the customer asks about an order instead, its number is not read as a measure
    reply = only_text(bot.says("20261120113000000777 这单到哪了"))
    assert "订单系统暂时查不到" in reply  # the order action's answer (this dialogue has no store to ask)
    assert "身高" not in reply and "体重" not in reply
    state = bot.state()
    assert state.active_loop is None and state.slots["requested_slot"] is None  # the form stopped asking


def test_two_stage_fallback_then_the_offered_human(bot: Bot) -> None:
    # first failure: please rephrase
    assert only_text(bot.says("你们老板喜欢吃榴莲吗")) == BOT.fallback
    # second failure in a row: a person is offered, as a menu
    [offer] = bot.says("那火龙果呢")
    assert isinstance(offer, MsgMenu)
    assert [item.id for item in offer.items] == [HANDOFF_MENU_ID]
    # taking the offer marks the conversation for handoff
    assert "人工客服" in only_text(bot.says("转人工客服", menu_id=HANDOFF_MENU_ID))
    assert bot.state().slots["handoff_reason"] == "offered"
    assert bot.state().slots["handoff_requested_at"]
    # both unanswered questions were reported for the gaps report
    assert bot.unanswered == [("你们老板喜欢吃榴莲吗", Outcome.FALLBACK), ("那火龙果呢", Outcome.FALLBACK)]


def test_an_answer_in_between_restarts_the_fallback_stages(bot: Bot) -> None:
    bot.says("你们老板喜欢吃榴莲吗")
    assert texts(bot.says("运费多少钱"))  # answered from the KB
    assert only_text(bot.says("那火龙果呢")) == BOT.fallback


def test_mini_program_gets_the_human_offer_as_text(bot: Bot) -> None:
    bot.says("你们老板喜欢吃榴莲吗", channel=Channel.MP)
    offer = only_text(bot.says("那火龙果呢", channel=Channel.MP))
    assert "转人工客服" in offer and "· " in offer


def test_complaints_go_to_a_person(bot: Bot) -> None:
    assert "非常抱歉" in only_text(bot.says("你们这服务态度太差了 气死我了"))
    assert bot.state().slots["handoff_reason"] == "complaint"


def test_a_complaint_the_kb_knows_gets_its_answer_and_a_person(
    bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]
) -> None:
    kb, _ = language
    text = "收到的裤子拉链是坏的"
    answer = kb.matcher().match(text).answer
    assert answer is not None
    first, second = texts(bot.says(text))
    assert first == answer.answer
    assert "非常抱歉" in second
    assert bot.state().slots["handoff_reason"] == "complaint"


def test_the_form_takes_a_bare_height_from_the_opening_message(bot: Bot) -> None:
    assert "158cm、体重 47.5kg" in only_text(bot.says("我158 95斤穿s还是m"))


def test_an_order_request_goes_to_the_order_action_which_without_a_store_says_so(bot: Bot) -> None:
    # The dialogue alone has no commerce core to ask: it says so honestly, and promises nothing.
    reply = only_text(bot.says("我要退这个"))
    assert "订单系统暂时查不到" in reply and "人工" in reply


def test_an_order_number_in_the_message_goes_to_the_order_action(bot: Bot) -> None:
    reply = only_text(bot.says("订单 2026 1120 1130 0000 0999 物流到哪了"))
    assert "订单系统暂时查不到" in reply


def test_a_policy_question_is_answered_from_the_kb(bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    answer = kb.knowledge_base().by_id("return_how_to")
    assert answer is not None
    assert only_text(bot.says("怎么退货")) == answer.answer


def test_small_talk_and_product_questions(bot: Bot) -> None:
    assert "您好" in only_text(bot.says("在吗亲"))
    assert "不客气" in only_text(bot.says("好的谢谢"))
    reply = only_text(bot.says("有没有黑色的针织开衫"))
    assert "针织开衫" in reply and "黑色" in reply


def test_a_tapped_menu_item_answers_that_faq(bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    faq = kb.knowledge_base().by_id("shipping_fee")
    assert faq is not None
    assert only_text(bot.says(faq.question, menu_id="shipping_fee")) == faq.answer


def test_an_faq_with_a_card_sends_the_mini_program_card(bot: Bot) -> None:
    answer, card = bot.says("尺码表在哪里看？", menu_id="size_chart")
    assert isinstance(answer, Text)
    assert isinstance(card, MiniProgramCard)
    assert (card.title, card.pagepath) == ("尺码对照表", "pages/size-guide/index")


def test_unsure_matches_get_a_guess_menu(bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    text = next(t for t in ("衣服", "有啥推荐", "化妆品") if kb.matcher().match(t).outcome is Outcome.SUGGEST)
    [menu] = bot.says(text)
    assert isinstance(menu, MsgMenu) and 1 <= len(menu.items) <= 3
    assert bot.unanswered == [(text, Outcome.SUGGEST)]


def test_a_tap_in_the_guess_menu_is_recorded_as_the_customers_choice(
        bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    text = next(t for t in ("衣服", "有啥推荐", "化妆品") if kb.matcher().match(t).outcome is Outcome.SUGGEST)
    # Given a customer whose question got a 猜你想问 menu
    [menu] = bot.says(text)
    assert isinstance(menu, MsgMenu)
    picked = menu.items[-1]
    # When they tap one of its FAQs
    replies = bot.says(picked.content, menu_id=picked.id)
    # Then they get its answer and their choice is recorded for the gaps report
    faq = kb.knowledge_base().by_id(picked.id)
    assert faq is not None and faq.answer in texts(replies)
    assert bot.choices == [("o_alice", picked.id)]


def test_typing_one_of_the_guesses_is_the_customers_choice_too(
        bot: Bot, language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    text = next(t for t in ("衣服", "有啥推荐", "化妆品") if kb.matcher().match(t).outcome is Outcome.SUGGEST)
    offered = kb.matcher().match(text).candidates
    # Given a mini-program customer, whose 猜你想问 comes as text lines
    listed = only_text(bot.says(text, openid="o_mp", channel=Channel.MP))
    assert all(candidate.faq.question in listed for candidate in offered)
    # When they type the question of one of them
    picked = offered[-1].faq
    assert picked.answer in texts(bot.says(picked.question, openid="o_mp", channel=Channel.MP))
    # Then that is their choice; a question typed later, with no guesses before it, is none
    assert bot.choices == [("o_mp", picked.id)]
    bot.says(picked.question, openid="o_mp", channel=Channel.MP)
    assert bot.choices == [("o_mp", picked.id)]


def test_a_tap_in_a_menu_that_was_not_a_guess_is_no_choice(bot: Bot) -> None:
    # A popular question tapped in the welcome menu (or tapped again long after) answers nothing unsure
    bot.says("运费怎么算", menu_id="shipping_fee")
    bot.says("你们老板喜欢吃榴莲吗")
    bot.says("运费怎么算", menu_id="shipping_fee")
    assert bot.choices == []
    # nor is a "tap" on an FAQ the guesses did not offer (the id is whatever the client sent)
    [menu] = bot.says("衣服")
    assert isinstance(menu, MsgMenu) and "invoice" not in {item.id for item in menu.items}
    bot.says("能开发票吗", menu_id="invoice")
    assert bot.choices == []


def test_customers_have_their_own_trackers(bot: Bot) -> None:
    bot.says("我穿什么码", openid="o_alice")
    assert "您好" in only_text(bot.says("你好", openid="o_bob"))
    assert bot.state("o_alice").active_loop == "size_advice_form"
    assert bot.state("o_bob").active_loop is None


def test_without_nlu_every_text_goes_to_the_kb(language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    kb, _ = language
    dialogue = Dialogue(kb=kb, config=DialogueConfig(**BOT.model_dump()))
    reply: Callable[[str], list[Outgoing]] = lambda text: dialogue.respond(  # noqa: E731
        Inbound(channel=Channel.OA, openid="o_x", kind="text", create_time=1, msg_id=1, content=text))
    assert texts(reply("我穿什么码")) == [kb.knowledge_base().by_id("size_advice").answer]  # type: ignore[union-attr]


class SlowLoadingStore(MemoryTrackerStore):
    """A store whose loads take a while, so two turns started together both load before either saves."""

    def load(self, channel: Channel, openid: str, *, read_at_claim: DialogueSnapshot | None = None) -> DialogueSnapshot:
        snapshot = super().load(channel, openid, read_at_claim=read_at_claim)
        time.sleep(0.2)
        return snapshot


def test_two_messages_from_one_customer_at_once_both_count(language: tuple[KnowledgeBaseSource, NluParser]) -> None:
    # Given a customer whose two messages are handled at the same moment
    bot = Bot(*language, store=SlowLoadingStore())
    texts = ["运费多少钱", "怎么退货"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(bot.says, texts))
    # Then both are answered and both turns are in the customer's dialogue, neither saved over the other
    assert all(replies)
    state = bot.state()
    assert state.turns == 2
    assert sorted(event["text"] for event in state.events if event.get("event") == "user") == sorted(texts)
