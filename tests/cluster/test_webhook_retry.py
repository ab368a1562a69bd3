"""WeChat retries a push it got no answer to, and behind a balancer the retry may land on the other process: it
gets the reply the first process stored, and the bot does not run again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.models import ConversationMessage, Customer, Direction
from tests.cluster.conftest import Cluster, Process
from tests.support import LOCAL_TLS, Push, make_push, next_msg_id, open_reply, render_fixture


def customer_push(cluster: Cluster, openid: str, content: str) -> Push:
    """A customer's text as WeChat pushes it: signed, encrypted (safe mode), with a fresh MsgId."""
    account = cluster.account()
    xml = render_fixture("wechat/text.xml", to=account.original_id, openid=openid, create_time=int(time.time()),
                         content=content, msg_id=next_msg_id())
    return make_push(xml, account)


def deliver(process: Process, push: Push) -> httpx.Response:
    return httpx.post(f"{process.base_url}/wechat", params=push.params, content=push.body, verify=LOCAL_TLS, timeout=15)


def logged(cluster: Cluster, openid: str) -> dict[str, int]:
    """How many messages the conversation log holds for the customer, each way."""
    with cluster.engine.connect() as connection:
        rows = connection.execute(
            select(ConversationMessage.direction, func.count()).join(Customer)
            .where(Customer.openid == openid).group_by(ConversationMessage.direction)
        ).tuples()
        return {str(direction): count for direction, count in rows}


def opened(cluster: Cluster, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return open_reply(answer.text, cluster.account(), encrypted=True)


def test_a_retry_on_the_other_process_gets_the_stored_reply_and_the_bot_runs_once(cluster: Cluster) -> None:
    # Given a customer's question answered by process A
    push = customer_push(cluster, "o_retry_elsewhere", "运费多少钱？")
    first = opened(cluster, deliver(cluster.a, push))
    assert first["MsgType"] == "text" and first["Content"], first
    before = logged(cluster, "o_retry_elsewhere")
    # When WeChat's retry of the very same push lands on process B
    retry = opened(cluster, deliver(cluster.b, push))
    # Then B answers with A's stored reply (its CreateTime too: not a second answer that reads the same)
    assert retry == first
    # and the bot ran once: one message in, the reply out once, nothing more after the retry
    assert before[Direction.IN] == 1
    assert logged(cluster, "o_retry_elsewhere") == before


def test_copies_arriving_at_both_processes_at_once_are_answered_once(cluster: Cluster) -> None:
    # Given one push delivered to both processes at the same moment (a retry while the first is in hand)
    push = customer_push(cluster, "o_retry_at_once", "发什么快递？")
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda process: deliver(process, push), cluster.processes))
    # Then one process claimed it and answered; the other said `success` (WeChat then waits) or gave the same reply
    replies = [answer.text for answer in answers if answer.text not in ("success", "")]
    assert all(answer.status_code == 200 for answer in answers)
    assert 1 <= len(replies) <= 2, answers
    assert len({str(opened(cluster, answer)) for answer in answers if answer.text in replies}) == 1
    # and the message was taken once
    assert logged(cluster, "o_retry_at_once")[Direction.IN] == 1
