"""Each message leaves once with two processes sending: agents' replies recorded by either process, first
attempts failing now and then and retried by the outbox's sweeper (in whichever process holds its lease); and a
campaign sent while both processes run their senders. WeChat's side (the sandbox's transcripts) is the evidence."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel, ConversationMessage, Customer, Delivery, Direction
from bot.outreach.campaigns import CampaignDraft, create_campaign, schedule_campaign
from bot.outreach.consent import record_consents
from bot.outreach.models import Campaign, ConsentResult
from bot.outreach.templates import load_templates
from storage.clock import utcnow
from storage.db import transaction
from tests.cluster.conftest import TEMPLATES, Cluster
from tests.support import LOCAL_TLS
from tests.support.sandbox_client import wait_until

CUSTOMERS = 6
REPLIES = 3  # per customer; with the handoff's own notice, inside WeChat's 5 messages per customer message
ARRIVAL = "sbx_mp_new_arrival"
AUDIENCE = 60
TAG = "集群测试"


def reply_texts(n: int) -> list[str]:
    return [f"第{k}条回复给{n}号" for k in range(REPLIES)]


def received(cluster: Cluster, openid: str, via: str, account: str = "oa") -> list[dict[str, object]]:
    return [entry for entry in cluster.customer(openid, account).transcript() if entry["via"] == via]


def test_agent_replies_through_both_processes_reach_wechat_once_each(cluster: Cluster) -> None:
    openids = [f"o_outbox_{n}" for n in range(CUSTOMERS)]
    agents, mine = cluster.agent_serving("outbox", openids)
    # Given WeChat failing some first attempts with -1 (busy: retried later by the sweeper)
    fault = {"api": "cgi-bin/message/custom/send", "errcode": -1, "times": 5, "account": "oa"}
    injected = httpx.post(f"{cluster.sandbox_url}/control/faults", json=fault, verify=LOCAL_TLS, timeout=10)
    assert injected.status_code == 200

    # When the agent replies to everyone several times, through both processes at once
    def reply(job: tuple[int, int]) -> int:
        n, k = job
        answer = agents[(n + k) % 2].post(f"/staff/api/conversations/{mine[openids[n]]}/reply",
                                          json={"text": reply_texts(n)[k]})
        return answer.status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(reply, [(n, k) for k in range(REPLIES) for n in range(CUSTOMERS)]))
    assert set(codes) == {201}, codes
    # Then every reply reached its customer exactly once
    for n, openid in enumerate(openids):
        got = wait_until(lambda openid=openid: received(cluster, openid, "custom_send"),  # type: ignore[misc]
                         lambda got: len([e for e in got if str(e["payload"]).count("条回复")]) >= REPLIES, 15)
        texts = Counter(e["payload"]["content"] for e in got if "条回复" in str(e["payload"]))  # type: ignore[index]
        assert texts == Counter(reply_texts(n)), (openid, texts)
    with cluster.engine.connect() as connection:
        rows = connection.execute(
            select(ConversationMessage.delivery, func.count()).join(Customer)
            .where(Customer.openid.like("o_outbox_%"), ConversationMessage.direction == Direction.OUT,
                   ConversationMessage.sent_by.is_not(None))
            .group_by(ConversationMessage.delivery)
        ).all()
    states = {delivery: count for delivery, count in rows}
    assert states == {Delivery.SENT: CUSTOMERS * REPLIES}, states


def test_a_campaign_sent_while_both_processes_run_reaches_each_customer_once(cluster: Cluster) -> None:
    # Given mini-program customers who each consented once, in WeChat and in our ledger
    openids = [f"o_campaign_{n:03d}" for n in range(AUDIENCE)]
    registry = load_templates(TEMPLATES)
    now = utcnow()
    with transaction(cluster.factory) as session:
        for openid in openids:
            customer = Customer(channel=Channel.MP, openid=openid, created_at=now)
            session.add(customer)
            session.flush()
            tag_customer(session, customer.id, name=TAG, source=TagSource.STAFF, set_by="staff:test", now=now)
            record_consents(session, customer_id=customer.id, results={ARRIVAL: ConsentResult.ACCEPT},
                            source="mp_request", registry=registry, now=now)
    with httpx.Client(base_url=cluster.sandbox_url, verify=LOCAL_TLS, timeout=10) as sandbox:
        for openid in openids:
            body = {"account": "mp", "openid": openid, "template_id": ARRIVAL}
            assert sandbox.post("/control/consent", json=body).status_code == 200
        # and WeChat rate-limiting a few sends (45009: the credit is given back and the send retried)
        fault = {"api": "cgi-bin/message/subscribe/send", "errcode": 45009, "times": 5}
        assert sandbox.post("/control/faults", json=fault).status_code == 200
    # When the campaign is scheduled for now, with both processes' schedulers running
    data = {"thing1": "冬季上新", "thing2": "羊毛大衣新款到店", "time3": "2026-12-10 10:00"}
    with transaction(cluster.factory) as session:
        draft = CampaignDraft(name="集群上新", audience=TAG, template_id=ARRIVAL, data=data)
        campaign = create_campaign(session, draft=draft, by="staff:test", registry=registry, now=utcnow())
        schedule_campaign(session, campaign.id, by="staff:test", registry=registry, now=utcnow())
        campaign_id = campaign.id

    def state() -> str | None:
        with cluster.engine.connect() as connection:
            return connection.scalar(select(Campaign.state).where(Campaign.id == campaign_id))

    assert wait_until(state, lambda s: s == "done", 30) == "done"
    # Then WeChat delivered it to every customer exactly once
    counts = Counter({openid: len(received(cluster, openid, "subscribe", "mp")) for openid in openids})
    assert set(counts.values()) == {1}, {openid: n for openid, n in counts.items() if n != 1}
