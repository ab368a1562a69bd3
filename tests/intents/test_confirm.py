"""Yes and no in a customer's own words: bare answers (the size form's question) and answers that echo
the question (an order's yes/no menu typed back)."""

from __future__ import annotations

import pytest

from intents.nlu.confirm import is_no, is_yes, yes_or_no


@pytest.mark.parametrize(("text", "yes", "no"), [
    ("是", True, False), ("是的！", True, False), ("对对对", True, False), ("嗯嗯", True, False), ("係", True, False),
    ("是哦", True, False), ("不是", False, True), ("不对哦", False, True), ("写错了", False, True),
    ("是50公斤", False, False), ("是不是太瘦了", False, False),
])
def test_bare_yes_and_no(text: str, yes: bool, no: bool) -> None:
    assert (is_yes(text), is_no(text)) == (yes, no)


@pytest.mark.parametrize(("text", "answer"), [
    ("确定取消", True), ("是的", True), ("好", True), ("OK", True), ("可以", True),
    ("先不取消", False), ("不", False), ("算了", False), ("再想想吧", False), ("不是", False),
    ("我还想问问发货", None), ("订单到哪了", None),
])
def test_an_answer_that_echoes_the_question_is_read_by_its_opening(text: str, answer: bool | None) -> None:
    # 先不取消 holds 取消 and 确定: the no it opens with decides
    assert yes_or_no(text) is answer
