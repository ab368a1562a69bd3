"""Campaigns against a live server and the sandbox: the audience counted and planned in SQL with each
skip's reason (holdout, opted out, no credit), every recipient with a credit sent exactly once even with
two senders at once, a pause keeping the place, 45009 slowing the sender without failing anyone, and the
state table."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.conversation import customer_id as ensure_customer
from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel
from bot.outreach.campaigns import (
    CampaignDraft,
    cancel_campaign,
    count_audience,
    create_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    start_due_campaigns,
)
from bot.outreach.consent import record_consents
from bot.outreach.errors import CampaignStateError, InvalidCampaign
from bot.outreach.models import (
    CAMPAIGN_TRANSITIONS,
    Campaign,
    CampaignEvent,
    CampaignState,
    ConsentResult,
    OptOut,
    SendState,
    SubscribeMessage,
)
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer

TEMPLATE = "sbx_mp_new_arrival"
DATA = {"thing1": "冬季上新", "thing2": "羊毛大衣新款到店，会员九折", "time3": "2026-12-10 10:00"}
TAG = "意向客户-大衣"  # each test's audience is this tag plus its customers' prefix (one server per module)


@pytest.fixture
def server(quiet_server: LiveServer) -> LiveServer:
    return quiet_server  # the server's own campaign job stays out of the way: these tests drive the sender


def tag_of(prefix: str) -> str:
    return f"{TAG}-{prefix.removeprefix('o_camp')}"


def audience(server: LiveServer, count: int, *, credit: Callable[[int], bool], opted_out: Callable[[int], bool]
             = lambda n: False, prefix: str = "o_camp") -> list[str]:
    """`count` mini-program customers tagged for the test, known to the sandbox, some with a consent on both
    sides."""
    openids = [f"{prefix}_{n}" for n in range(count)]
    registry = server.services.outreach.registry()  # type: ignore[union-attr]
    with httpx.Client(base_url=server.base_url + "/sandbox") as sandbox:
        for n, openid in enumerate(openids):
            if credit(n):  # WeChat knows the customer from the consent (the mini-program asked it)
                sandbox.post("/control/consent", json={"account": "mp", "openid": openid, "template_id": TEMPLATE})
    now = utcnow()
    with transaction(server.services.factory) as session:
        for n, openid in enumerate(openids):
            customer = ensure_customer(session, channel=Channel.MP, openid=openid, now=now)
            tag_customer(session, customer, name=tag_of(prefix), source=TagSource.RULE, set_by="rule:test", now=now)
            if credit(n):
                record_consents(session, customer_id=customer, results={TEMPLATE: ConsentResult.ACCEPT},
                                source="mp_request", registry=registry, now=now)
            if opted_out(n):
                session.add(OptOut(customer_id=customer, at=now))
    return openids


def new_campaign(server: LiveServer, prefix: str = "o_camp", **changes: object) -> int:
    draft = CampaignDraft(**{"name": "冬季上新", "audience": tag_of(prefix), "template_id": TEMPLATE, "data": DATA,
                             **changes})  # type: ignore[arg-type]
    with transaction(server.services.factory) as session:
        campaign = create_campaign(session, draft=draft, by="test", registry=server.services.outreach.registry(),  # type: ignore[union-attr]
                                   now=utcnow())
        return campaign.id


def start(server: LiveServer, campaign_id: int) -> None:
    registry = server.services.outreach.registry()  # type: ignore[union-attr]
    with transaction(server.services.factory) as session:
        schedule_campaign(session, campaign_id, by="test", registry=registry, now=utcnow())
    assert start_due_campaigns(server.services.factory, registry=registry, now=utcnow() + timedelta(seconds=1)) \
        == [campaign_id]


def states(server: LiveServer, campaign_id: int) -> dict[tuple[str, str | None], int]:
    with server.services.factory() as session:
        rows = session.execute(select(SubscribeMessage.state, SubscribeMessage.reason, func.count())
                               .where(SubscribeMessage.campaign_id == campaign_id)
                               .group_by(SubscribeMessage.state, SubscribeMessage.reason)).all()
    return {(state, reason): count for state, reason, count in rows}


def received(server: LiveServer, openid: str) -> int:
    return sum(1 for e in SandboxCustomer(server, openid, account="mp").transcript()
               if e["via"] == "subscribe" and e["payload"]["template_id"] == TEMPLATE)


def test_the_audience_is_counted_and_planned_with_each_skip_reason(server: LiveServer) -> None:
    openids = audience(server, 24, credit=lambda n: n % 3 != 0, opted_out=lambda n: n == 1)
    with server.services.factory() as session:
        counted = count_audience(session, audience=tag_of("o_camp"), template_id=TEMPLATE,
                                 registry=server.services.outreach.registry())  # type: ignore[union-attr]
    assert (counted.total, counted.with_credit, counted.opted_out, counted.without_credit) == (24, 15, 1, 8)
    campaign_id = new_campaign(server, holdout_pct=20)
    start(server, campaign_id)
    planned = states(server, campaign_id)
    assert sum(planned.values()) == 24
    held_out = planned.get((SendState.SKIPPED, "holdout"), 0)
    assert planned.get((SendState.SKIPPED, "opted out"), 0) <= 1
    assert held_out + planned.get((SendState.PENDING, None), 0) + sum(
        c for (s, r), c in planned.items() if r in ("opted out", "no credit")) == 24
    # The holdout is a fixed hash of the customer and the campaign: the same customers however often computed
    with server.services.factory() as session:
        held = set(session.scalars(select(SubscribeMessage.customer_id).where(
            SubscribeMessage.campaign_id == campaign_id, SubscribeMessage.reason == "holdout")))
        everyone = set(session.scalars(select(SubscribeMessage.customer_id).where(
            SubscribeMessage.campaign_id == campaign_id)))
    assert held == {c for c in everyone if (c * 7919 + campaign_id * 104729 % 1000003) % 100 < 20}
    progress = server.services.outreach.campaigns.send(campaign_id)  # type: ignore[union-attr]
    assert progress.state == CampaignState.DONE
    sent = {openid: received(server, openid) for openid in openids}
    assert sum(sent.values()) == planned.get((SendState.PENDING, None), 0)
    assert max(sent.values()) == 1


def test_two_senders_at_once_send_each_recipient_once(server: LiveServer) -> None:
    openids = audience(server, 60, credit=lambda n: True, prefix="o_camp_two")
    campaign_id = new_campaign(server, "o_camp_two")
    start(server, campaign_id)
    sender = server.services.outreach.campaigns  # type: ignore[union-attr]
    threads = [threading.Thread(target=sender.send, args=(campaign_id,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [received(server, openid) for openid in openids] == [1] * 60
    assert states(server, campaign_id) == {(SendState.SENT, None): 60}


def test_a_pause_keeps_the_place_and_45009_slows_down_without_failing_anyone(server: LiveServer) -> None:
    openids = audience(server, 30, credit=lambda n: True, prefix="o_camp_pause")
    campaign_id = new_campaign(server, "o_camp_pause", throttle_per_s=1000)
    start(server, campaign_id)
    SandboxCustomer(server, openids[0], account="mp").inject_fault("cgi-bin/message/subscribe/send", 45009, 3)
    campaigns = server.services.outreach.campaigns  # type: ignore[union-attr]
    with transaction(server.services.factory) as session:
        pause_campaign(session, campaign_id, by="test", now=utcnow())
    assert campaigns.send(campaign_id).sent == 0  # paused: nothing goes
    with transaction(server.services.factory) as session:
        resume_campaign(session, campaign_id, by="test", now=utcnow())
        assert session.get_one(Campaign, campaign_id).state == CampaignState.SENDING
    done = campaigns.send(campaign_id)
    assert done.state == CampaignState.DONE and done.sent == 30
    assert [received(server, openid) for openid in openids] == [1] * 30
    with server.services.factory() as session:
        moves = list(session.execute(select(CampaignEvent.from_state, CampaignEvent.to_state)
                                     .where(CampaignEvent.campaign_id == campaign_id).order_by(CampaignEvent.id)))
    assert [tuple(m) for m in moves] == [(None, "draft"), ("draft", "scheduled"), ("scheduled", "sending"),
                                        ("sending", "paused"), ("paused", "sending"), ("sending", "done")]


def test_the_state_table_is_enforced_and_a_cancel_skips_the_rest(server: LiveServer) -> None:
    audience(server, 5, credit=lambda n: True, prefix="o_camp_cancel")
    campaign_id = new_campaign(server, "o_camp_cancel")
    with transaction(server.services.factory) as session, pytest.raises(CampaignStateError):
        resume_campaign(session, campaign_id, by="test", now=utcnow())  # a draft cannot resume
    start(server, campaign_id)
    with transaction(server.services.factory) as session:
        cancel_campaign(session, campaign_id, by="test", now=utcnow())
    assert states(server, campaign_id) == {(SendState.SKIPPED, "cancelled"): 5}
    for state, targets in CAMPAIGN_TRANSITIONS.items():
        assert state not in (CampaignState.DONE, CampaignState.CANCELLED) or not targets


@pytest.mark.parametrize(("changes", "field"), [
    ({"audience": "VIP AND (意向客户"}, "audience"),
    ({"template_id": "sbx_mp_order_paid"}, "template_id"),
    ({"template_id": "nope"}, "template_id"),
    ({"data": {**DATA, "time3": "下周"}}, "time3"),
    ({"throttle_per_s": -1}, "throttle"),
    ({"holdout_pct": 80}, "holdout"),
    ({"name": ""}, "name"),
])
def test_a_campaign_that_cannot_be_sent_is_refused_naming_the_field(
    server: LiveServer, changes: dict[str, object], field: str,
) -> None:
    with pytest.raises(InvalidCampaign) as refused:
        new_campaign(server, **changes)
    assert refused.value.details()["field"] == field
