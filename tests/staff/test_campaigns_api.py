"""Campaigns through the staff API, over real HTTP against a live server: who may use them, the marketing
templates and their rules, drafts checked (tag expression, template, field values), the audience counted
as the customers tagged (split by consent credits and opt-outs), the preview as WeChat shows it, every state
change through the transition table with its audit row, and a campaign that really sends through the
sandbox, with its progress and report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.customers.tag_models import TagSource
from bot.customers.tags import tag_customer
from bot.models import Channel, Customer
from bot.outreach.consent import record_consents
from bot.outreach.models import CampaignEvent, ConsentResult, OptOut
from staff.roles import Role
from storage.clock import utcnow
from storage.db import transaction
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import LiveServer, fixture_path
from tests.support.mp_client import error_of
from tests.support.sandbox_client import SandboxCustomer

TEMPLATES = fixture_path("outreach/campaign_templates.yaml")
ARRIVAL = "sbx_mp_new_arrival"
ARRIVAL_DATA = {"thing1": "冬季上新", "thing2": "羊毛大衣新款到店，会员九折", "time3": "2026-12-10 10:00"}


@pytest.fixture
def shop(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory({"CHATSHOP__OUTREACH__TEMPLATES_PATH": str(TEMPLATES)})


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def as_staff(server: LiveServer, clients: list[httpx.Client], username: str, role: Role) -> httpx.Client:
    make_staff(server, username, role, groups=("售前",) if role is Role.AGENT else ())
    http = server.client()
    clients.append(http)
    http.headers["Authorization"] = f"Bearer {token_for(server, username)}"
    return http


def customer(server: LiveServer, openid: str, *tags: str, channel: Channel = Channel.MP) -> int:
    with transaction(server.services.factory) as session:
        row = Customer(channel=channel, openid=openid, created_at=utcnow())
        session.add(row)
        session.flush()
        for name in tags:
            tag_customer(session, row.id, name=name, source=TagSource.STAFF, set_by="staff:test", now=utcnow())
        return row.id


def consents(server: LiveServer, customer_id: int, openid: str, template_id: str = ARRIVAL) -> None:
    """The customer accepted in wx.requestSubscribeMessage: WeChat (the sandbox) and our ledger each hold a credit."""
    with httpx.Client(base_url=server.base_url + "/sandbox") as sandbox:
        sandbox.post("/control/consent", json={"account": "mp", "openid": openid, "template_id": template_id}
                     ).raise_for_status()
    with transaction(server.services.factory) as session:
        record_consents(session, customer_id=customer_id, results={template_id: ConsentResult.ACCEPT},
                        source="test", registry=server.services.outreach.registry(),  # type: ignore[union-attr]
                        now=utcnow())


def opted_out(server: LiveServer, customer_id: int) -> None:
    with transaction(server.services.factory) as session:
        session.add(OptOut(customer_id=customer_id, at=utcnow()))


def draft(**changes: Any) -> dict[str, Any]:
    return {"name": "冬季上新", "audience": "意向客户", "template_id": ARRIVAL, "data": dict(ARRIVAL_DATA),
            "throttle_per_s": 0, "holdout_pct": 0, **changes}


def created(http: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = http.post("/staff/api/campaigns", json=draft(**changes))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def events_of(server: LiveServer, campaign_id: int) -> list[tuple[str | None, str, str, str | None]]:
    with server.services.factory() as session:
        rows = session.scalars(select(CampaignEvent).where(CampaignEvent.campaign_id == campaign_id)
                               .order_by(CampaignEvent.id)).all()
        return [(row.from_state, row.to_state, row.by, row.note) for row in rows]


def test_marketers_and_admins_run_campaigns_and_agents_are_refused(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    agent = as_staff(shop, clients, "wang", Role.AGENT)
    supervisor = as_staff(shop, clients, "li", Role.SUPERVISOR)
    marketer = as_staff(shop, clients, "mei", Role.MARKETER)
    admin = as_staff(shop, clients, "boss", Role.ADMIN)
    # An agent (and a supervisor) may not see or write campaigns
    count = {"audience": "VIP", "template_id": ARRIVAL}
    for http in (agent, supervisor):
        for method, path, body in (("GET", "/staff/api/campaigns", None),
                                   ("GET", "/staff/api/subscribe-templates", None),
                                   ("POST", "/staff/api/campaigns", draft()),
                                   ("POST", "/staff/api/campaigns/audience", count)):
            refused = http.request(method, path, json=body)
            assert refused.status_code == 403, (method, path, refused.text)
            assert error_of(refused)["code"] == "FORBIDDEN"
    # A marketer and an admin may
    mine = created(marketer)
    assert created(admin, name="年终大促")["created_by"] == "boss"
    listed = marketer.get("/staff/api/campaigns")
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["campaigns"]] == ["年终大促", "冬季上新"]  # newest first
    assert admin.get(f"/staff/api/campaigns/{mine['id']}").json()["created_by"] == "mei"
    # Without a session or token: 401
    assert shop.client().get("/staff/api/campaigns").status_code == 401


def test_the_form_gets_the_marketing_templates_with_each_fields_rule(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    answer = mei.get("/staff/api/subscribe-templates", params={"purpose": "marketing"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["timezone"] == "Asia/Shanghai"
    assert [t["id"] for t in body["templates"]] == [ARRIVAL, "sbx_oa_new_arrival", "test_mp_flash_sale"]
    arrival = body["templates"][0]
    assert (arrival["title"], arrival["channel"], arrival["purpose"]) == ("上新通知", "mp", "marketing")
    assert arrival["fields"][0] == {"key": "thing1", "label": "活动名称", "type": "thing",
                                    "rule": "at most 20 characters", "limit": 20, "shorten": True}
    assert arrival["fields"][2]["type"] == "time" and arrival["fields"][2]["shorten"] is False
    assert "2026-12-04 15:01" in arrival["fields"][2]["rule"]
    flash = body["templates"][2]
    assert [(f["key"], f["shorten"]) for f in flash["fields"]] == [("thing1", False), ("amount2", False)]
    # Without a purpose, every template; an unknown purpose is refused
    assert len(mei.get("/staff/api/subscribe-templates").json()["templates"]) == 4
    assert mei.get("/staff/api/subscribe-templates", params={"purpose": "spam"}).status_code == 422


def test_a_draft_is_checked_before_it_is_saved(shop: LiveServer, clients: list[httpx.Client]) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    # A tag expression that does not parse: the parser's message and the position it fails at
    bad = mei.post("/staff/api/campaigns", json=draft(audience="意向客户 AND (VIP"))
    assert bad.status_code == 422
    assert error_of(bad)["code"] == "INVALID_TAG_EXPRESSION"
    assert bad.json()["error"]["position"] == 13
    # A template the registry does not have
    unknown = mei.post("/staff/api/campaigns", json=draft(template_id="no_such_template"))
    assert unknown.status_code == 422
    assert (error_of(unknown)["code"], error_of(unknown)["field"]) == ("INVALID_CAMPAIGN", "template_id")
    # A template that is not for marketing
    order = mei.post("/staff/api/campaigns", json=draft(template_id="sbx_mp_order_paid"))
    assert order.status_code == 422 and "not marketing" in error_of(order)["message"]
    # A 21-character thing where the template does not allow shortening: refused, naming the field and rule
    long_name = "羊毛大衣" * 5 + "！"
    assert len(long_name) == 21
    too_long = mei.post("/staff/api/campaigns", json=draft(template_id="test_mp_flash_sale",
                                                           data={"thing1": long_name, "amount2": "¥199.00"}))
    assert too_long.status_code == 422
    refusal = error_of(too_long)
    assert (refusal["code"], refusal["field"]) == ("INVALID_CAMPAIGN", "thing1")
    assert "at most 20 characters" in refusal["message"]
    # A field missing, or one the template does not have
    missing = mei.post("/staff/api/campaigns", json=draft(data={"thing1": "冬季上新", "thing2": "大衣"}))
    assert (missing.status_code, error_of(missing)["field"]) == (422, "time3")
    extra = mei.post("/staff/api/campaigns", json=draft(data={**ARRIVAL_DATA, "thing9": "多余"}))
    assert (extra.status_code, error_of(extra)["field"]) == (422, "thing9")
    # Throttle and holdout out of range, a time without a zone
    assert mei.post("/staff/api/campaigns", json=draft(holdout_pct=60)).status_code == 422
    assert mei.post("/staff/api/campaigns", json=draft(throttle_per_s=-1)).status_code == 422
    naive = mei.post("/staff/api/campaigns", json=draft(scheduled_at="2030-01-01T10:00:00"))
    assert (naive.status_code, error_of(naive)["field"]) == (422, "scheduled_at")
    assert mei.get("/staff/api/campaigns").json()["campaigns"] == []
    # A good draft: the same thing, shortened where the template allows it, and the time stored in UTC
    good = created(mei, data={**ARRIVAL_DATA, "thing2": long_name}, scheduled_at="2030-01-01T10:00:00+08:00",
                   throttle_per_s=20, holdout_pct=10)
    assert good["data"] == {**ARRIVAL_DATA, "thing2": "羊毛大衣" * 4 + "羊毛大…"}
    assert datetime.fromisoformat(good["scheduled_at"]) == datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    assert (good["state"], good["throttle_per_s"], good["holdout_pct"], good["created_by"]) == ("draft", 20, 10, "mei")
    assert good["progress"] == {"done": 0, "sent": 0, "total": 0} and good["audience_size"] is None
    assert events_of(shop, good["id"]) == [(None, "draft", "mei", None)]
    # A draft may be changed; members left out keep their value
    patched = mei.patch(f"/staff/api/campaigns/{good['id']}", json={"name": "冬季上新 第二波", "holdout_pct": 0})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["holdout_pct"], patched.json()["throttle_per_s"]) == (
        "冬季上新 第二波", 0, 20)
    assert patched.json()["scheduled_at"] == good["scheduled_at"]
    bad_patch = mei.patch(f"/staff/api/campaigns/{good['id']}", json={"audience": "NOT"})
    assert error_of(bad_patch)["code"] == "INVALID_TAG_EXPRESSION"
    assert mei.get("/staff/api/campaigns/999").status_code == 404


def test_the_audience_is_the_customers_tagged_split_by_credit_and_opt_out(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    # Given four mini-program customers tagged 意向客户 (one also VIP), one untagged, and a follower of
    # the Official Account tagged too (another channel than the template's)
    with_credit = [customer(shop, f"o_aud_{n}", "意向客户") for n in range(2)]
    vip = customer(shop, "o_aud_vip", "意向客户", "VIP")
    left = customer(shop, "o_aud_out", "意向客户")
    customer(shop, "o_aud_none")
    customer(shop, "o_aud_oa", "意向客户", channel=Channel.OA)
    for n, customer_id in enumerate(with_credit):
        consents(shop, customer_id, f"o_aud_{n}")
    consents(shop, left, "o_aud_out")
    opted_out(shop, left)

    def count(expression: str, template_id: str = ARRIVAL) -> httpx.Response:
        return mei.post("/staff/api/campaigns/audience", json={"audience": expression, "template_id": template_id})

    answer = count("意向客户")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"total": 4, "with_credit": 2, "without_credit": 1, "opted_out": 1}
    assert count("意向客户 AND NOT VIP").json() == {"total": 3, "with_credit": 2, "without_credit": 0, "opted_out": 1}
    assert count("VIP").json()["total"] == 1
    assert count("意向客户", "sbx_oa_new_arrival").json() == {"total": 1, "with_credit": 0, "without_credit": 1,
                                                           "opted_out": 0}
    # A new tag moves the count at once
    with transaction(shop.services.factory) as session:
        tag_customer(session, with_credit[0], name="VIP", source=TagSource.STAFF, set_by="staff:test", now=utcnow())
    assert count("VIP").json()["total"] == 2
    assert vip
    # A bad expression: the parser's message and position
    bad = count("VIP OR")
    assert bad.status_code == 422
    assert (error_of(bad)["code"], bad.json()["error"]["position"]) == ("INVALID_TAG_EXPRESSION", 6)
    assert "position 6" in error_of(bad)["message"]
    unknown = count("VIP", "no_such_template")
    assert (unknown.status_code, error_of(unknown)["code"]) == (422, "UNKNOWN_TEMPLATE")


def test_the_preview_shows_what_wechat_will_show_or_names_the_field_and_rule(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    long_text = "羊毛大衣新款到店，全场会员九折，满五百再减五十，仅此三天"
    answer = mei.post("/staff/api/campaigns/preview",
                      json={"template_id": ARRIVAL, "data": {**ARRIVAL_DATA, "thing2": f"  {long_text} "}})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"title": "上新通知", "lines": [
        {"key": "thing1", "label": "活动名称", "value": "冬季上新", "shortened": False},
        {"key": "thing2", "label": "活动内容", "value": long_text[:19] + "…", "shortened": True},
        {"key": "time3", "label": "活动时间", "value": "2026-12-10 10:00", "shortened": False},
    ]}
    # A time WeChat would refuse (47003): the field and the rule
    bad = mei.post("/staff/api/campaigns/preview",
                   json={"template_id": ARRIVAL, "data": {**ARRIVAL_DATA, "time3": "下周一"}})
    assert bad.status_code == 422
    refusal = bad.json()["error"]
    assert (refusal["code"], refusal["field"], refusal["rule"]) == (
        "INVALID_TEMPLATE_DATA", "time3", "a time such as 2026-12-04 15:01 (or two joined by ~)")
    empty = mei.post("/staff/api/campaigns/preview", json={"template_id": ARRIVAL, "data": {"thing1": "冬季上新"}})
    assert (empty.status_code, error_of(empty)["field"]) == (422, "thing2")
    unknown = mei.post("/staff/api/campaigns/preview", json={"template_id": "nope", "data": {}})
    assert error_of(unknown)["code"] == "UNKNOWN_TEMPLATE"


def test_schedule_pause_resume_and_cancel_follow_the_transition_table(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    boss = as_staff(shop, clients, "boss", Role.ADMIN)
    campaign = created(mei)
    path = f"/staff/api/campaigns/{campaign['id']}"
    # A draft cannot be paused or resumed
    for move in ("pause", "resume"):
        refused = mei.post(f"{path}/{move}")
        assert refused.status_code == 409, refused.text
        assert (error_of(refused)["code"], refused.json()["error"]["state"]) == ("CAMPAIGN_STATE", "draft")
    # Scheduled for tomorrow (a time with its zone, stored in UTC)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    scheduled = mei.post(f"{path}/schedule", json={"at": tomorrow.astimezone().isoformat()})
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["state"] == "scheduled"
    assert datetime.fromisoformat(scheduled.json()["scheduled_at"]) == tomorrow
    # A scheduled campaign is no longer a draft: it cannot be edited
    edit = mei.patch(path, json={"name": "改名"})
    assert (edit.status_code, error_of(edit)["code"]) == (409, "CAMPAIGN_STATE")
    assert mei.post(f"{path}/pause").json()["state"] == "paused"
    # Resumed before it started: back to waiting for its time
    assert boss.post(f"{path}/resume").json()["state"] == "scheduled"
    cancelled = mei.post(f"{path}/cancel")
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["finished_at"] is not None
    # Cancelled is for good
    again = mei.post(f"{path}/resume")
    assert again.status_code == 409
    assert (again.json()["error"]["state"], again.json()["error"]["to"]) == ("cancelled", "scheduled")
    assert mei.post(f"{path}/schedule").status_code == 409
    assert mei.post("/staff/api/campaigns/999/pause").status_code == 404
    # Every change is a campaign_events row naming who made it
    assert [(f, t, by) for f, t, by, _ in events_of(shop, campaign["id"])] == [
        (None, "draft", "mei"), ("draft", "scheduled", "mei"), ("scheduled", "paused", "mei"),
        ("paused", "scheduled", "boss"), ("scheduled", "cancelled", "mei")]


def test_a_scheduled_campaign_sends_through_wechat_and_reports_its_results(
    shop: LiveServer, clients: list[httpx.Client],
) -> None:
    mei = as_staff(shop, clients, "mei", Role.MARKETER)
    # Given three customers tagged 意向客户: two accepted the template in the mini-program, one did not
    ready = {f"o_send_{n}": customer(shop, f"o_send_{n}", "意向客户") for n in range(2)}
    customer(shop, "o_send_nocredit", "意向客户")
    for openid, customer_id in ready.items():
        consents(shop, customer_id, openid)
    campaign = created(mei)
    scheduled = mei.post(f"/staff/api/campaigns/{campaign['id']}/schedule", json={})
    assert scheduled.json()["state"] == "scheduled"
    # When its time comes (now) the campaign job plans the recipients and sends
    shop.services.outreach.campaigns.run_due()  # type: ignore[union-attr]
    one = mei.get(f"/staff/api/campaigns/{campaign['id']}").json()
    assert (one["state"], one["audience_size"], one["progress"]) == ("done", 3, {"done": 3, "sent": 2, "total": 3})
    assert mei.get("/staff/api/campaigns").json()["campaigns"][0]["progress"] == one["progress"]
    # WeChat delivered the message to the two with a credit, with the campaign's data and page
    for openid in ready:
        [received] = [e for e in SandboxCustomer(shop, openid, account="mp").transcript() if e["via"] == "subscribe"]
        assert received["payload"]["template_id"] == ARRIVAL
        assert received["payload"]["data"]["thing1"] == {"value": "冬季上新"}
        assert received["payload"]["page"].endswith(f"src=campaign&c={campaign['id']}")
    report = mei.get(f"/staff/api/campaigns/{campaign['id']}/report")
    assert report.status_code == 200, report.text
    assert report.json() == {
        "campaign_id": campaign["id"], "name": "冬季上新", "state": "done", "audience": 3, "sent": 2, "pending": 0,
        "in_doubt": 0, "skipped": {"no credit": 1}, "failed": {}, "opens": 0,
        "recipients": {"customers": 2, "buyers": 0, "orders": 0, "gmv_fen": 0},
        "holdout": {"customers": 0, "buyers": 0, "orders": 0, "gmv_fen": 0},
    }
    # Done is final
    assert mei.post(f"/staff/api/campaigns/{campaign['id']}/pause").status_code == 409
    assert events_of(shop, campaign["id"])[-2:] == [("scheduled", "sending", "scheduler", "3 recipients planned"),
                                                    ("sending", "done", "scheduler", None)]
