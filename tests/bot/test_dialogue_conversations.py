"""Whole conversations through the live webhook (encrypted pushes from the sandbox customer), with
the dialogue state the bot keeps per customer in the database."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import Channel, Customer, DialogueState, UnansweredQuestion
from intents.actions.domain import HANDOFF_MENU_ID
from intents.kb import load_knowledge_base
from tests.support import DEMO_KB, LiveServer
from tests.support.sandbox_client import SandboxCustomer, wait_until


def dialogue_state(server: LiveServer, openid: str, channel: Channel = Channel.OA) -> DialogueState:
    with server.services.factory() as session:
        state = session.scalars(
            select(DialogueState).join(Customer, Customer.id == DialogueState.customer_id)
            .where(Customer.openid == openid, Customer.channel == channel)
        ).one()
        session.expunge(state)
        return state


def reply_text(sent: dict[str, object]) -> str:
    reply = sent["reply"]
    assert isinstance(reply, dict), sent
    return str(reply["content"])


def test_size_advice_over_several_messages_is_kept_in_the_database(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_sizing")
    # Given a customer asking for a size without measures
    assert "身高" in reply_text(customer.says("我不知道穿什么码"))
    state = dialogue_state(server, "o_sizing")
    assert (state.active_loop, state.slots["requested_slot"]) == ("size_advice_form", "height")
    # When the answers come in separate messages (a restart-proof tracker carries the form between them)
    assert "体重" in reply_text(customer.says("一米六二"))
    recommendation = reply_text(customer.says("52kg"))
    # Then the size comes from the chart and the stored state is back to rest
    assert "推荐您选 M 码" in recommendation
    state = dialogue_state(server, "o_sizing")
    assert state.active_loop is None
    assert (state.slots["size"], state.slots["height"], state.turns) == ("M", None, 3)
    assert state.latest_message["text"] == "52kg"
    assert [e["name"] for e in state.events if e["event"] == "action"][-2:] == ["action_recommend_size",
                                                                               "action_listen"]


def test_asking_for_a_person_marks_the_conversation_for_handoff(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_impatient")
    assert "人工客服" in reply_text(customer.says("别让机器人回我 转人工"))
    state = dialogue_state(server, "o_impatient")
    assert state.handoff_requested_at is not None and state.handoff_requested_at.tzinfo is not None
    assert state.handoff_reason == "asked"
    # and while a person owns the conversation, the customer's messages never reach the dialogue
    assert customer.says("谢谢")["reply"] is None
    later = dialogue_state(server, "o_impatient")
    assert (later.handoff_requested_at, later.handoff_reason, later.turns) == (state.handoff_requested_at, "asked", 1)


def test_two_failures_offer_a_person_whose_tap_hands_off(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_puzzled")
    # first failure: the rephrase request, passively
    assert reply_text(customer.says("你们老板喜欢吃榴莲吗")) == server.settings.bot.fallback
    # second failure: a menu offering a person, through the customer-service API
    second = customer.says("那火龙果呢")
    assert second["reply"] is None
    [menu] = customer.wait_for_api_messages(1)
    assert menu["msgtype"] == "msgmenu"
    assert [item["id"] for item in menu["payload"]["list"]] == [HANDOFF_MENU_ID]
    # tapping it hands the conversation off
    assert "人工客服" in reply_text(customer.taps(HANDOFF_MENU_ID, "转人工客服"))
    state = dialogue_state(server, "o_puzzled")
    assert state.handoff_reason == "offered" and state.handoff_requested_at is not None
    # and both unanswered questions are kept for `kb gaps`
    with server.services.factory() as session:
        rows = session.scalars(select(UnansweredQuestion).order_by(UnansweredQuestion.id)).all()
        assert [(row.text, row.outcome) for row in rows] == [("你们老板喜欢吃榴莲吗", "fallback"),
                                                            ("那火龙果呢", "fallback")]


def test_the_faq_tapped_in_a_guess_menu_is_kept_with_the_question(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_unsure")
    # Given a question the bot is unsure of: a 猜你想问 menu through the customer-service API
    assert customer.says("衣服")["reply"] is None
    [menu] = customer.wait_for_api_messages(1)
    assert menu["msgtype"] == "msgmenu"
    item = menu["payload"]["list"][-1]
    # When the customer taps one of its FAQs
    answer = reply_text(customer.taps(item["id"], item["content"]))
    # Then they get its answer, and the question is stored with the FAQ they chose
    assert answer
    with server.services.factory() as session:
        [row] = session.scalars(select(UnansweredQuestion)).all()
        assert (row.text, row.outcome, row.chosen_faq_id) == ("衣服", "suggest", item["id"])


def test_a_mini_program_customer_typing_a_guess_is_kept_as_their_choice(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_mp_unsure", account="mp")
    # Given the guesses as text lines (mini-program customer service has no menus)
    customer.says("衣服")
    [listed] = customer.wait_for_api_messages(1)
    lines = [line.removeprefix("· ") for line in listed["payload"]["content"].splitlines() if line.startswith("· ")]
    assert lines
    # When the customer types one of them
    customer.says(lines[0])
    # Then the question is stored with the FAQ whose question they typed
    [row] = wait_until(lambda: stored_questions(server), lambda rows: bool(rows) and rows[0].chosen_faq_id is not None)
    assert (row.text, row.outcome) == ("衣服", "suggest")
    chosen = load_knowledge_base(DEMO_KB).by_id(str(row.chosen_faq_id))
    assert chosen is not None and chosen.question == lines[0]


def stored_questions(server: LiveServer) -> list[UnansweredQuestion]:
    with server.services.factory() as session:
        rows = list(session.scalars(select(UnansweredQuestion)))
        session.expunge_all()
        return rows


def test_an_order_request_across_two_messages(server: LiveServer) -> None:
    # Given a customer with no orders the store knows of, asking without a number
    customer = SandboxCustomer(server, "o_waiting")
    assert "订单号" in reply_text(customer.says("我的快递到哪了"))
    assert dialogue_state(server, "o_waiting").slots["pending_request"] == "track_package"
    # When the number comes on its own, the remembered request is served: this number is nobody's here
    answer = reply_text(customer.says("20261120113000000999"))
    assert "没有找到订单 20261120113000000999" in answer
    assert dialogue_state(server, "o_waiting").slots["pending_request"] is None


def test_mini_program_customers_get_choices_as_text(server: LiveServer) -> None:
    customer = SandboxCustomer(server, "o_mp_puzzled", account="mp")
    customer.says("你们老板喜欢吃榴莲吗")
    customer.says("那火龙果呢")
    # Both answers go through the API, each sent after its own webhook response, so they may
    # reach WeChat in either order.
    messages = customer.wait_for_api_messages(2)
    assert [m["msgtype"] for m in messages] == ["text", "text"]
    contents = sorted((m["payload"]["content"] for m in messages), key=lambda text: "转人工客服" in text)
    assert contents[0] == server.settings.bot.fallback
    assert "转人工客服" in contents[1] and "· " in contents[1]
    assert dialogue_state(server, "o_mp_puzzled", Channel.MP).turns == 2
