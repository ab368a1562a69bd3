"""Customer tags: tag_customer / untag_customer with their audit rows, expiry, one person across
channels, and listing customers by tag expression (SQL, paged and counted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.errors import InvalidTag, TagExpressionError
from bot.customers.models import MpSession
from bot.customers.people import customer_conversations
from bot.customers.tag_expressions import customers_by_tags, parse_tag_expression
from bot.customers.tag_models import CustomerTagAudit, TagAction, TagSource
from bot.customers.tags import customer_tags, tag_customer, tag_history, untag_customer
from bot.models import Channel, Customer
from storage.db import transaction

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def add_customer(session: Session, openid: str, *, channel: Channel = Channel.OA, unionid: str | None = None) -> int:
    customer = Customer(channel=channel, openid=openid, unionid=unionid, created_at=NOW)
    session.add(customer)
    session.flush()
    return customer.id


def names(session: Session, customer_id: int, now: datetime = NOW) -> list[str]:
    return [tag.name for tag in customer_tags(session, customer_id, now=now)]


def test_a_tag_added_and_removed_writes_an_audit_row_each_time(factory: sessionmaker[Session]) -> None:
    # Given a customer
    with transaction(factory) as session:
        alice = add_customer(session, "o_alice")
    # When staff tag them and a rule takes the tag off later
    with transaction(factory) as session:
        tag_customer(session, alice, name="VIP", group="VIP", source=TagSource.STAFF, set_by="staff:wang", now=NOW)
    with transaction(factory) as session:
        assert names(session, alice) == ["VIP"]
        untag_customer(session, alice, name="VIP", source=TagSource.RULE, set_by="rule:order_paid@3",
                       now=NOW + timedelta(hours=1))
    # Then the tag no longer counts, and the audit tells who did what when
    with factory() as session:
        assert names(session, alice, NOW + timedelta(hours=2)) == []
        history = [(a.name, a.action, a.source, a.actor, a.at) for a in tag_history(session, alice)]
    assert history == [
        ("VIP", TagAction.ADD, TagSource.STAFF, "staff:wang", NOW),
        ("VIP", TagAction.REMOVE, TagSource.RULE, "rule:order_paid@3", NOW + timedelta(hours=1)),
    ]


def test_setting_a_live_tag_again_changes_nothing_and_writes_no_audit(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        bob = add_customer(session, "o_bob")
        expires = NOW + timedelta(days=30)
        assert tag_customer(session, bob, name="意向客户-女装", group="意向", source=TagSource.RULE,
                            set_by="rule:intent@7", now=NOW, expires_at=expires) == 1
        # the same rule fires again a minute later: "30 days from now" moved by a minute
        again = tag_customer(session, bob, name="意向客户-女装", group="意向", source=TagSource.RULE,
                             set_by="rule:intent@7", now=NOW + timedelta(minutes=1),
                             expires_at=expires + timedelta(minutes=1))
    assert again == 0
    with factory() as session:
        assert len(tag_history(session, bob)) == 1


def test_an_expired_tag_does_not_count(factory: sessionmaker[Session]) -> None:
    # Given a tag that expires in 7 days
    with transaction(factory) as session:
        carol = add_customer(session, "o_carol")
        tag_customer(session, carol, name="看过-女装", source=TagSource.RULE, set_by="rule:card_opened@14", now=NOW,
                     expires_at=NOW + timedelta(days=7))
    with factory() as session:
        # Then it counts for 7 days, in the listing and the expressions alike, and not after
        assert names(session, carol, NOW + timedelta(days=6)) == ["看过-女装"]
        assert names(session, carol, NOW + timedelta(days=7)) == []
        assert customers_by_tags(session, "看过-女装", now=NOW + timedelta(days=6))[1] == 1
        assert customers_by_tags(session, "看过-女装", now=NOW + timedelta(days=8)) == ([], 0)
    # And set again after expiry, it counts again and is audited again
    with transaction(factory) as session:
        tag_customer(session, carol, name="看过-女装", source=TagSource.RULE, set_by="rule:card_opened@14",
                     now=NOW + timedelta(days=9), expires_at=NOW + timedelta(days=16))
    with factory() as session:
        assert names(session, carol, NOW + timedelta(days=10)) == ["看过-女装"]
        assert [a.action for a in tag_history(session, carol)] == [TagAction.ADD, TagAction.ADD]


def test_a_tag_name_wechat_could_not_carry_is_refused(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        dave = add_customer(session, "o_dave")
        with pytest.raises(InvalidTag):  # 33 bytes
            tag_customer(session, dave, name="超" * 11, source=TagSource.STAFF, set_by="staff:wang", now=NOW)
        assert tag_customer(session, dave, name="超" * 10, source=TagSource.STAFF, set_by="staff:wang", now=NOW) == 1


def test_one_person_on_both_channels_is_tagged_on_each(factory: sessionmaker[Session]) -> None:
    # Given a follower (unionid from user/info) and a mini-program buyer (unionid from the login)
    with transaction(factory) as session:
        follower = add_customer(session, "o_oa_erin", unionid="u_erin")
        buyer = add_customer(session, "o_mp_erin", channel=Channel.MP)
        stranger = add_customer(session, "o_mp_frank", channel=Channel.MP)
        session.add(MpSession(token_hash="h" * 64, openid="o_mp_erin", unionid="u_erin", session_key="k",
                              created_at=NOW, expires_at=NOW + timedelta(days=1)))
    with factory() as session:
        assert [c.id for c in customer_conversations(session, buyer)] == [follower, buyer]
        assert [c.id for c in customer_conversations(session, follower)] == [follower, buyer]
        assert [c.id for c in customer_conversations(session, stranger)] == [stranger]
    # When the chat on the Official Account tags them, and a payment in the mini-program untags them
    with transaction(factory) as session:
        assert tag_customer(session, follower, name="意向客户-女装", source=TagSource.RULE, set_by="rule:intent@7",
                            now=NOW) == 2
    with transaction(factory) as session:
        assert untag_customer(session, buyer, name="意向客户-女装", source=TagSource.RULE, set_by="rule:order_paid@21",
                              now=NOW) == 2
        audit = session.scalars(select(CustomerTagAudit.customer_id).where(
            CustomerTagAudit.action == TagAction.REMOVE)).all()
    # Then both rows gained and lost it, each with its audit row
    with factory() as session:
        assert names(session, follower) == [] and names(session, buyer) == []
    assert sorted(audit) == [follower, buyer]


@pytest.fixture
def tagged(factory: sessionmaker[Session]) -> dict[str, int]:
    """Five customers: interested in dresses, bought dresses, both, VIP, after-sales."""
    people = {"interested": ["意向客户-连衣裙"], "bought": ["已购-连衣裙"], "both": ["意向客户-连衣裙", "已购-连衣裙"],
              "vip": ["VIP"], "aftersales": ["售后", "意向客户-连衣裙"]}
    ids: dict[str, int] = {}
    with transaction(factory) as session:
        for who, tags in people.items():
            ids[who] = add_customer(session, f"o_{who}")
            for name in tags:
                tag_customer(session, ids[who], name=name, source=TagSource.IMPORT, set_by="import:test", now=NOW)
    return ids


@pytest.mark.parametrize(("expression", "expected"), [
    ("意向客户-连衣裙 AND NOT 已购-连衣裙", ["interested", "aftersales"]),
    ("VIP OR 售后", ["vip", "aftersales"]),
    ("NOT (VIP OR 售后) AND 已购-连衣裙", ["bought", "both"]),
    ("意向客户-连衣裙 AND (已购-连衣裙 OR 售后)", ["both", "aftersales"]),
    ("\"VIP\"", ["vip"]),
    ("没有人的标签", []),
])
def test_expressions_select_in_sql(factory: sessionmaker[Session], tagged: dict[str, int], expression: str,
                                   expected: list[str]) -> None:
    with factory() as session:
        rows, total = customers_by_tags(session, expression, limit=50, offset=0, now=NOW)
    assert [row.id for row in rows] == [tagged[who] for who in expected]
    assert total == len(expected)


def test_expressions_are_paged_and_counted_whole(factory: sessionmaker[Session], tagged: dict[str, int]) -> None:
    with factory() as session:
        first = customers_by_tags(session, "意向客户-连衣裙", limit=2, offset=0, now=NOW)
        second = customers_by_tags(session, "意向客户-连衣裙", limit=2, offset=2, now=NOW)
        past_the_end = customers_by_tags(session, "意向客户-连衣裙", limit=2, offset=10, now=NOW)
    assert [r.id for r in first[0]] == [tagged["interested"], tagged["both"]] and first[1] == 3
    assert [r.id for r in second[0]] == [tagged["aftersales"]] and second[1] == 3
    assert past_the_end == ([], 3)


@pytest.mark.parametrize(("expression", "position"), [
    ("VIP AND", 7),
    ("VIP 售后", 4),
    ("(VIP OR 售后", 10),
    ("VIP OR )", 7),
    ("NOT", 3),
    ("\"VIP", 0),
    ("", 0),
])
def test_a_malformed_expression_is_refused_with_its_position(expression: str, position: int) -> None:
    with pytest.raises(TagExpressionError) as refused:
        parse_tag_expression(expression)
    assert refused.value.position == position
    assert f"at position {position}" in refused.value.message
