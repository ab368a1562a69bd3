"""The sync of customer tags to the Official Account's user tags, against the sandbox's tag API over
HTTP: batches of at most 50 openids, WeChat's limits refused before calling it, nothing done twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.tag_models import CustomerTag, TagSource, WeChatTagId
from bot.customers.tag_sync import ACCOUNT_FULL, USER_FULL, sync_wechat_tags
from bot.customers.tags import tag_customer, untag_customer
from bot.models import Channel, Customer
from storage.clock import utcnow
from storage.db import transaction
from tests.support import LiveServer
from tests.support.sandbox_client import SandboxCustomer
from wechat.tags import TagsApi

BATCH_TAGGING = "cgi-bin/tags/members/batchtagging"
BATCH_UNTAGGING = "cgi-bin/tags/members/batchuntagging"
CREATE = "cgi-bin/tags/create"


def followers(server: LiveServer, count: int, prefix: str) -> list[int]:
    """Followers WeChat knows (the sandbox learns an openid from its first action) with customer rows."""
    ids = []
    with httpx.Client(base_url=server.base_url + "/sandbox", timeout=20) as http, \
            transaction(server.services.factory) as session:
        for n in range(count):
            openid = f"{prefix}_{n:03d}"
            assert http.post("/control/payment", json={"account": "oa", "openid": openid}).status_code == 200
            customer = Customer(channel=Channel.OA, openid=openid, created_at=utcnow())
            session.add(customer)
            session.flush()
            ids.append(customer.id)
    return ids


def tag_all(factory: sessionmaker[Session], customers: list[int], name: str, **options: Any) -> None:
    with transaction(factory) as session:
        for customer in customers:
            tag_customer(session, customer, name=name, source=TagSource.STAFF, set_by="staff:test", now=utcnow(),
                         **options)


def oa_tags(server: LiveServer) -> TagsApi:
    return server.services.apis[Channel.OA].tags


def sync(server: LiveServer) -> int:
    return sync_wechat_tags(server.services.factory, oa_tags(server))


def test_tags_are_created_and_applied_in_batches_of_50_and_a_second_run_does_nothing(server: LiveServer) -> None:
    # Given 60 followers tagged VIP
    customers = followers(server, 60, "o_sync")
    tag_all(server.services.factory, customers, "VIP")
    watcher = SandboxCustomer(server, "o_sync_000")
    # When the sync runs
    assert sync(server) == 3  # create, then two batches
    # Then WeChat has the tag and every follower carries it, in calls of at most 50 openids
    created = watcher.calls(CREATE)
    assert [c["body"]["tag"]["name"] for c in created] == ["VIP"]
    batches = [c["body"]["openid_list"] for c in watcher.calls(BATCH_TAGGING)]
    assert [len(b) for b in batches] == [50, 10]
    assert all(c["errcode"] == 0 for c in watcher.calls(BATCH_TAGGING))
    wechat_id = oa_tags(server).all()[0].id
    assert oa_tags(server).tags_of_user("o_sync_059") == [wechat_id]
    with server.services.factory() as session:
        assert session.scalar(select(WeChatTagId.wechat_id).where(WeChatTagId.name == "VIP")) == wechat_id
    # And a second run calls WeChat for nothing
    calls_before = len(watcher.calls(""))
    assert sync(server) == 0
    assert len(watcher.calls("")) == calls_before


def test_a_removed_or_expired_tag_is_taken_off_wechat(server: LiveServer) -> None:
    customers = followers(server, 3, "o_sync_off")
    tag_all(server.services.factory, customers[:2], "售后")
    tag_all(server.services.factory, customers[2:], "看过-女装", expires_at=utcnow() + timedelta(seconds=1))
    assert sync(server) == 4  # two creations, two batches
    with transaction(server.services.factory) as session:
        untag_customer(session, customers[0], name="售后", source=TagSource.STAFF, set_by="staff:test", now=utcnow())
    # The expired tag is found past its expiry
    assert sync_wechat_tags(server.services.factory, oa_tags(server), now=utcnow() + timedelta(seconds=2)) == 2
    untagged = SandboxCustomer(server, "o_sync_off_000").calls(BATCH_UNTAGGING)
    assert sorted(tuple(c["body"]["openid_list"]) for c in untagged) == [("o_sync_off_000",), ("o_sync_off_002",)]
    assert oa_tags(server).tags_of_user("o_sync_off_000") == []
    assert len(oa_tags(server).tags_of_user("o_sync_off_001")) == 1


def test_over_100_tags_on_the_account_a_refusal_is_recorded_and_wechat_is_not_asked(server: LiveServer) -> None:
    # Given an account already holding WeChat's 100 tags (made elsewhere)
    for n in range(100):
        oa_tags(server).create(f"老标签{n}")
    customers = followers(server, 1, "o_sync_full")
    tag_all(server.services.factory, customers, "新标签")
    watcher = SandboxCustomer(server, "o_sync_full_000")
    creates_before = len(watcher.calls(CREATE))
    # When the sync runs
    assert sync(server) == 0
    # Then no tag is created and nobody tagged, and the refusal is on the customer's tag
    assert len(watcher.calls(CREATE)) == creates_before
    assert watcher.calls(BATCH_TAGGING) == []
    with server.services.factory() as session:
        tag = session.scalars(select(CustomerTag)).one()
    assert (tag.on_wechat, tag.sync_refusal) == (False, ACCOUNT_FULL)
    # And a second run does nothing either
    calls_before = len(watcher.calls(""))
    assert sync(server) == 0 and len(watcher.calls("")) == calls_before


def test_over_20_tags_on_a_follower_the_rest_are_refused_and_wechat_is_not_asked(server: LiveServer) -> None:
    # Given a follower with 21 tags
    customers = followers(server, 1, "o_sync_many")
    for n in range(21):
        tag_all(server.services.factory, customers, f"标签{n:02d}")
    watcher = SandboxCustomer(server, "o_sync_many_000")
    # When the sync runs: 21 tags created, 20 applied
    assert sync(server) == 21 + 20
    # Then WeChat carries 20, never refused anything, and the 21st is refused here
    assert len(oa_tags(server).tags_of_user("o_sync_many_000")) == 20
    assert all(c["errcode"] == 0 for c in watcher.calls(BATCH_TAGGING))
    with server.services.factory() as session:
        refused = session.scalars(select(CustomerTag).where(CustomerTag.sync_refusal.is_not(None))).all()
    assert [(t.name, t.sync_refusal, t.on_wechat) for t in refused] == [("标签20", USER_FULL, False)]
    assert sync(server) == 0
