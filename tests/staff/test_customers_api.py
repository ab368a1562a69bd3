"""Customers and their tags through the staff API, over real HTTP against a live server: tags set and taken
off by staff (on every channel of the person, each change an audit row), customers by tag expression paged
with the total, one customer across channels with cart, orders and conversations, and who may do it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.customers.tag_models import CustomerTagAudit, TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel, Customer
from commerce.cart import add_to_cart
from commerce.catalog import import_catalog, load_catalog_file
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import FIXTURES, LiveServer
from tests.support.mp_client import error_of
from tests.support.sandbox_client import SandboxCustomer

CATALOG = FIXTURES / "catalog" / "mp_shop.yaml"


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def as_staff(server: LiveServer, clients: list[httpx.Client], username: str, role: Role = Role.AGENT,
             groups: tuple[str, ...] = ("售前",)) -> httpx.Client:
    make_staff(server, username, role, groups=groups)
    http = server.client()
    clients.append(http)
    http.headers["Authorization"] = f"Bearer {token_for(server, username)}"
    return http


def new_customer(server: LiveServer, openid: str, channel: Channel = Channel.OA, unionid: str | None = None) -> int:
    with transaction(server.services.factory) as session:
        row = Customer(channel=channel, openid=openid, unionid=unionid, created_at=utcnow())
        session.add(row)
        session.flush()
        return row.id


def tagged(server: LiveServer, customer_id: int, *names: str) -> None:
    with transaction(server.services.factory) as session:
        for name in names:
            tag_customer(session, customer_id, name=name, source=TagSource.RULE, set_by="rule:test", now=utcnow())


def audit_of(server: LiveServer, customer_id: int) -> list[tuple[str, str, str, str]]:
    with server.services.factory() as session:
        rows = session.scalars(select(CustomerTagAudit).where(CustomerTagAudit.customer_id == customer_id)
                               .order_by(CustomerTagAudit.id)).all()
        return [(row.name, row.action, row.source, row.actor) for row in rows]


def test_staff_tag_and_untag_a_person_on_every_channel_with_audit_rows(
    server: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(server, clients, "mei", Role.MARKETER, groups=())
    # Given one person on both channels (WeChat gave both rows the same unionid)
    follower = new_customer(server, "o_tag_oa", Channel.OA, unionid="u_tagged")
    buyer = new_customer(server, "o_tag_mp", Channel.MP, unionid="u_tagged")
    # When a marketer tags the follower
    added = mei.post(f"/staff/api/customers/{follower}/tags", json={"name": "意向客户-连衣裙", "group": "意向"})
    assert added.status_code == 201, added.text
    [tag] = added.json()
    assert (tag["name"], tag["group"], tag["source"], tag["set_by"], tag["expires_at"]) == (
        "意向客户-连衣裙", "意向", "staff", "staff:mei", None)
    # Then the person carries it on both channels
    for row in (follower, buyer):
        assert [t["name"] for t in mei.get(f"/staff/api/customers/{row}/tags").json()] == ["意向客户-连衣裙"]
    # A tag with an expiry; refusals for a past expiry, a name WeChat cannot carry, an unknown customer
    later = (utcnow() + timedelta(days=7)).isoformat()
    expiring = mei.post(f"/staff/api/customers/{buyer}/tags", json={"name": "看过-口红", "expires_at": later})
    assert expiring.status_code == 201
    expiries = {t["name"]: t["expires_at"] is not None for t in expiring.json()}
    assert expiries == {"意向客户-连衣裙": False, "看过-口红": True}
    past = mei.post(f"/staff/api/customers/{buyer}/tags",
                    json={"name": "x", "expires_at": (utcnow() - timedelta(hours=1)).isoformat()})
    assert past.status_code == 422 and error_of(past)["field"] == "expires_at"
    too_long = mei.post(f"/staff/api/customers/{buyer}/tags", json={"name": "超" * 11})  # 33 bytes
    assert too_long.status_code == 422 and error_of(too_long)["code"] == "INVALID_TAG"
    for answer in (mei.get("/staff/api/customers/999999/tags"),
                   mei.post("/staff/api/customers/999999/tags", json={"name": "VIP"}),
                   mei.delete("/staff/api/customers/999999/tags/VIP")):
        assert answer.status_code == 404 and error_of(answer)["code"] == "UNKNOWN_CUSTOMER"
    # When the tag is taken off, it is gone from both rows
    removed = mei.delete(f"/staff/api/customers/{follower}/tags/意向客户-连衣裙")
    assert removed.status_code == 204
    assert [t["name"] for t in mei.get(f"/staff/api/customers/{follower}/tags").json()] == ["看过-口红"]
    # And every change is an audit row naming the staff member
    assert audit_of(server, follower) == [("意向客户-连衣裙", "add", "staff", "staff:mei"),
                                          ("看过-口红", "add", "staff", "staff:mei"),
                                          ("意向客户-连衣裙", "remove", "staff", "staff:mei")]
    assert audit_of(server, buyer) == audit_of(server, follower)


def test_customers_by_tag_expression_are_paged_with_the_total(server: LiveServer, clients: list[httpx.Client]) -> None:
    wang = as_staff(server, clients, "wang")
    interested = [new_customer(server, f"o_expr_{n}") for n in range(4)]
    for customer_id in interested:
        tagged(server, customer_id, "意向客户-连衣裙")
    tagged(server, interested[1], "已购-连衣裙")  # bought already: not a lead
    tagged(server, new_customer(server, "o_expr_bought"), "已购-连衣裙")
    expression = "意向客户-连衣裙 AND NOT 已购-连衣裙"
    leads = [interested[0], interested[2], interested[3]]
    # The first page and the total
    first = wang.get("/staff/api/customers", params={"tags": expression, "limit": 2})
    assert first.status_code == 200, first.text
    assert [c["id"] for c in first.json()["customers"]] == leads[:2]
    assert (first.json()["total"], first.json()["limit"], first.json()["offset"]) == (3, 2, 0)
    assert first.json()["customers"][0]["openid"] == "o_expr_0"
    # The next page, and a page past the end still counts
    second = wang.get("/staff/api/customers", params={"tags": expression, "limit": 2, "offset": 2}).json()
    assert ([c["id"] for c in second["customers"]], second["total"]) == (leads[2:], 3)
    beyond = wang.get("/staff/api/customers", params={"tags": expression, "offset": 10}).json()
    assert (beyond["customers"], beyond["total"]) == ([], 3)
    either = wang.get("/staff/api/customers", params={"tags": "已购-连衣裙 OR (VIP AND 售后)"}).json()
    assert either["total"] == 2
    # A bad expression is 422 with where it goes wrong
    for bad, position in (("意向客户-连衣裙 AND", 12), ("(VIP OR 售后", 10), ("NOT NOT", 7), ("VIP 售后", 4)):
        answer = wang.get("/staff/api/customers", params={"tags": bad})
        assert answer.status_code == 422, answer.text
        assert error_of(answer)["code"] == "INVALID_TAG_EXPRESSION"
        assert answer.json()["error"]["position"] == position
    assert wang.get("/staff/api/customers").status_code == 422  # the expression is required


def test_one_customer_with_channels_tags_cart_and_conversations(
    server: LiveServer, clients: list[httpx.Client],
) -> None:
    with transaction(server.services.factory) as session:
        import_catalog(session, load_catalog_file(CATALOG))
    wang = as_staff(server, clients, "wang", groups=("售前",))
    li = as_staff(server, clients, "li", groups=("售后",))
    mei = as_staff(server, clients, "mei", Role.MARKETER, groups=())
    # Given a mini-program customer with a cart, who asked for a person
    customer = SandboxCustomer(server, "o_detail_mp", account="mp")
    customer.says("人工")
    with transaction(server.services.factory) as session:
        add_to_cart(session, openid="o_detail_mp", sku_id="tee-basic-white-M", quantity=2)
        customer_id = session.scalar(select(Customer.id).where(Customer.openid == "o_detail_mp"))
    assert customer_id is not None
    tagged(server, customer_id, "意向客户-T恤")
    # When an agent of the group the conversation went to looks them up
    seen = wang.get(f"/staff/api/customers/{customer_id}")
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["id"], body["channel"], body["openid"]) == (customer_id, "mp", "o_detail_mp")
    assert [(c["customer_id"], c["channel"]) for c in body["channels"]] == [(customer_id, "mp")]
    assert [t["name"] for t in body["tags"]] == ["意向客户-T恤"]
    assert body["context"]["cart"]["total_fen"] == 15800
    assert [(line["sku_id"], line["quantity"]) for line in body["context"]["cart"]["lines"]] == [
        ("tee-basic-white-M", 2)]
    assert body["context"]["orders"] == []
    [conversation] = body["conversations"]
    assert (conversation["state"], conversation["group"], conversation["reason"]) == ("queued", "售前", "asked")
    # Staff who may not see that conversation get the customer without it
    for other in (li, mei):
        answer = other.get(f"/staff/api/customers/{customer_id}")
        assert answer.status_code == 200 and answer.json()["conversations"] == []
    assert wang.get("/staff/api/customers/999999").status_code == 404


def test_tags_need_a_signed_in_member_of_a_customer_role(server: LiveServer, clients: list[httpx.Client]) -> None:
    customer_id = new_customer(server, "o_roles")
    with server.client() as anonymous:
        assert anonymous.get("/staff/api/customers", params={"tags": "VIP"}).status_code == 401
        assert anonymous.post(f"/staff/api/customers/{customer_id}/tags", json={"name": "VIP"}).status_code == 401
    boss = as_staff(server, clients, "boss", Role.ADMIN, groups=())
    assert boss.post(f"/staff/api/customers/{customer_id}/tags", json={"name": "VIP"}).status_code == 201
    assert boss.get("/staff/api/customers", params={"tags": "VIP"}).json()["total"] == 1
    # A cookie session needs the CSRF token for a tag change, as for any write
    with server.client() as http:
        assert http.post("/staff/api/login", json={"username": "boss", "password": "correct horse battery"}
                         ).status_code == 200
        refused = http.delete(f"/staff/api/customers/{customer_id}/tags/VIP")
        assert refused.status_code == 403 and error_of(refused)["code"] == "CSRF_REFUSED"


def test_the_openapi_document_lists_the_customer_routes(server: LiveServer) -> None:
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    assert {"/staff/api/customers", "/staff/api/customers/{customer_id}", "/staff/api/customers/{customer_id}/tags",
            "/staff/api/customers/{customer_id}/tags/{name}"} <= set(paths)
    assert set(paths["/staff/api/customers/{customer_id}/tags"]) == {"get", "post"}
    assert set(paths["/staff/api/customers/{customer_id}/tags/{name}"]) == {"delete"}
    listing = paths["/staff/api/customers"]["get"]
    assert listing["summary"] and "422" in listing["responses"]
    assert [p["name"] for p in listing["parameters"]] == ["tags", "limit", "offset"]


def test_one_customer_shows_subscribe_credits_per_template_and_the_opt_out(
    server: LiveServer, clients: list[httpx.Client],
) -> None:
    from tests.support.mp_client import Buyer

    # Given a mini-program customer who accepted two order templates, once and twice, and rejected one
    buyer = Buyer(server, "o_credits_detail")
    for answers in ({"sbx_mp_order_paid": "accept", "sbx_mp_order_shipped": "accept", "sbx_mp_refund": "reject"},
                    {"sbx_mp_order_shipped": "accept"}):
        assert buyer.post("/mp/subscriptions", json=answers).status_code == 200
    with server.services.factory() as session:
        customer_id = session.scalar(select(Customer.id).where(Customer.openid == "o_credits_detail"))
    # When a marketer opens the customer
    http = as_staff(server, clients, "mk_credits", Role.MARKETER)
    detail = http.get(f"/staff/api/customers/{customer_id}").json()
    # Then the credits are listed per template with the latest answer
    credits = {c["template_id"]: (c["credits"], c["last_result"]) for c in detail["subscriptions"]}
    assert credits == {"sbx_mp_order_paid": (1, "accept"), "sbx_mp_order_shipped": (2, "accept"),
                       "sbx_mp_refund": (0, "reject")}
    assert detail["opted_out"] is False
