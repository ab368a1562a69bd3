"""Size advice through the whole dialogue (NLU, form, actions, tracker): a height or weight no adult
shopper has is questioned before any size is given, and the size comes once the customer confirms or
corrects it."""

from __future__ import annotations

import pytest

import tests.bot.test_dialogue as dialogue_tests
from intents.kb_source import KnowledgeBaseSource
from intents.nlu.parser import NluParser
from tests.bot.test_dialogue import Bot, only_text

language = dialogue_tests.language  # the demo KB and a parser trained on the demo's data, once per module


@pytest.fixture
def bot(language: tuple[KnowledgeBaseSource, NluParser]) -> Bot:
    return Bot(*language)


def test_165_cm_and_50_jin_is_questioned_and_a_yes_gives_the_size(bot: Bot) -> None:
    # When the customer asks with 50斤 (25 kg) at 165 cm
    reply = only_text(bot.says("我身高165cm 体重50斤 穿什么码"))
    # Then the bot asks whether 50 公斤 was meant, and gives no size yet
    assert "是50公斤吗？" in reply and "推荐" not in reply
    state = bot.state()
    assert (state.active_loop, state.slots["requested_slot"]) == ("size_advice_form", "weight")
    assert (state.slots["height"], state.slots["weight"]) == (165.0, None)
    # And the customer's yes brings the size for 50 kg
    assert only_text(bot.says("是")) == "身高 165cm、体重 50kg，推荐您选 M 码。"
    state = bot.state()
    assert (state.active_loop, state.slots["size"], state.slots["measure_check"]) == (None, "M", None)


def test_180_cm_and_50_jin_is_questioned_not_given_xxl(bot: Bot) -> None:
    reply = only_text(bot.says("180cm 50斤 穿什么码"))
    assert "是50公斤吗？" in reply and "XXL" not in reply
    assert bot.state().slots["size"] is None
    # a corrected weight is taken, and the size follows from the true figures
    assert "身高 180cm、体重 70kg，推荐您选 XXL 码" in only_text(bot.says("说错了 是70公斤"))


def test_the_weight_given_after_the_height_is_questioned_too(bot: Bot) -> None:
    assert "身高" in only_text(bot.says("我穿什么码"))
    assert "体重" in only_text(bot.says("165"))
    assert "是50公斤吗？" in only_text(bot.says("50斤"))
    assert bot.state().slots["requested_slot"] == "weight"
    assert "推荐您选 M 码" in only_text(bot.says("对的"))


def test_a_no_keeps_the_form_and_the_figure_repeated_is_believed(bot: Bot) -> None:
    bot.says("165cm 50斤 穿什么码")
    # "不是" is an answer to the question, not a new topic: the weight is asked for again
    assert only_text(bot.says("不是")) == "请问您的体重是多少？（例如 50kg 或 100斤）"
    assert bot.state().active_loop == "size_advice_form"
    # the customer says 50斤 again: believed, and a size given for 25 kg
    assert "体重 25kg，推荐您选 M 码" in only_text(bot.says("50斤"))
