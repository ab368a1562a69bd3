"""Campaigns for marketers, under /staff/api/: the marketing templates and their fields, the audience a tag
expression selects (with who can be sent to), a preview of the message as the customer sees it, and campaigns
written, scheduled, paused, resumed and cancelled, with their progress and results.

Handlers parse, call one `bot.outreach.campaigns` operation and serialize; the operations enforce the
transition table and write each change to `campaign_events` with the staff member's username as `by`.
Marketers use these routes (admins pass every check); agents and supervisors get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.tag_expressions import MAX_EXPRESSION_CHARS, parse_tag_expression
from bot.outreach.campaigns import (
    MAX_THROTTLE_PER_S,
    CampaignDraft,
    Counted,
    campaign_report,
    cancel_campaign,
    count_audience,
    create_campaign,
    get_campaign,
    list_campaigns,
    pause_campaign,
    progress_of,
    resume_campaign,
    schedule_campaign,
    update_campaign,
)
from bot.outreach.models import Campaign, CampaignState
from bot.outreach.templates import RULES, Purpose, Template, TemplateRegistry
from staff.roles import Principal, Role, RoleCheck
from storage.clock import utcnow
from storage.db import transaction
from web.errors import ApiError
from web.schemas import MAX_INT, StrictBody

CAMPAIGN_ID = Path(ge=1, le=MAX_INT, description="the campaign's id")
PURPOSE = Query(None, description="e.g. `marketing`; omit: every template")
LIST_LIMIT = 100


@dataclass(frozen=True)
class CampaignTools:
    """What the campaign routes need of outreach besides the database (built by the composition root)."""

    registry: Callable[[], TemplateRegistry]  # the current template registry (the file is watched)
    timezone: str  # the store's zone: times in messages and the console's schedule picker


class CampaignBackend(Protocol):
    @property
    def factory(self) -> sessionmaker[Session]: ...

    @property
    def campaigns(self) -> CampaignTools | None: ...



class CampaignsUnavailable(ApiError):
    """This service runs without outreach (no subscribe templates, no campaign sender)."""

    code = "CAMPAIGNS_UNAVAILABLE"
    status = 503


# ----- bodies -----------------------------------------------------------------------------------------


class AudienceIn(StrictBody):
    audience: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS, description="a tag expression")
    template_id: str = Field(min_length=1, max_length=128, description="its channel narrows the audience")


class PreviewIn(StrictBody):
    template_id: str = Field(min_length=1, max_length=128)
    data: dict[str, str] = Field(description="field key → value, e.g. {\"thing1\": \"冬季上新\"}")


class CampaignIn(StrictBody):
    name: str = Field(min_length=1, max_length=60)
    audience: str = Field(min_length=1, max_length=MAX_EXPRESSION_CHARS,
                          description="a tag expression, e.g. `意向客户-连衣裙 AND NOT 已购-连衣裙`")
    template_id: str = Field(min_length=1, max_length=128, description="a marketing template")
    data: dict[str, str] = Field(description="field key → value, checked against the template's rules")
    scheduled_at: AwareDatetime | None = Field(None, description="ISO 8601 with a zone; stored in UTC")
    throttle_per_s: int = Field(0, ge=0, le=MAX_THROTTLE_PER_S, description="messages a second; 0: no limit")
    holdout_pct: int = Field(0, ge=0, le=50, description="share of the audience never sent to, for the lift")


class CampaignPatch(StrictBody):
    """Members left out keep their value; `scheduled_at: null` clears the time."""

    name: str | None = Field(None, min_length=1, max_length=60)
    audience: str | None = Field(None, min_length=1, max_length=MAX_EXPRESSION_CHARS)
    template_id: str | None = Field(None, min_length=1, max_length=128)
    data: dict[str, str] | None = None
    scheduled_at: AwareDatetime | None = None
    throttle_per_s: int | None = Field(None, ge=0, le=MAX_THROTTLE_PER_S)
    holdout_pct: int | None = Field(None, ge=0, le=50)


class ScheduleIn(StrictBody):
    at: AwareDatetime | None = Field(None, description="omit: the campaign's own time, or now if it has none")


# ----- answers ----------------------------------------------------------------------------------------


class TemplateFieldOut(BaseModel):
    key: str = Field(description="WeChat's keyword, e.g. thing1")
    label: str = Field(description="what the customer sees beside the value")
    type: str = Field(description="the WeChat field type: thing, time, amount ...")
    rule: str = Field(description="what a value of this type may be")
    limit: int = Field(description="the most characters WeChat takes")
    shorten: bool = Field(description="a value too long is cut to fit with … instead of refused")


class TemplateOut(BaseModel):
    id: str
    title: str
    channel: str
    purpose: Purpose
    fields: list[TemplateFieldOut]


class TemplatesOut(BaseModel):
    timezone: str = Field(description="the store's zone: campaign times are picked in it")
    templates: list[TemplateOut]


class AudienceOut(BaseModel):
    total: int = Field(description="customers the expression selects on the template's channel")
    with_credit: int = Field(description="of those, the ones a message can go to")
    without_credit: int
    opted_out: int


class PreviewLineOut(BaseModel):
    key: str
    label: str
    value: str = Field(description="as WeChat will show it")
    shortened: bool


class PreviewOut(BaseModel):
    title: str
    lines: list[PreviewLineOut]


class ProgressOut(BaseModel):
    done: int = Field(description="recipients sent, skipped or failed")
    sent: int
    total: int = Field(description="the planned audience (0 until the campaign starts)")


class CampaignOut(BaseModel):
    id: int
    name: str
    audience: str
    template_id: str
    data: dict[str, str]
    state: CampaignState
    scheduled_at: datetime | None
    throttle_per_s: int
    holdout_pct: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    audience_size: int | None = Field(description="recipients planned when it started")
    progress: ProgressOut


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]


class ConversionsOut(BaseModel):
    customers: int
    buyers: int
    orders: int
    gmv_fen: int = Field(description="paid within 7 days of the campaign's start")


class ReportOut(BaseModel):
    campaign_id: int
    name: str
    state: CampaignState
    audience: int | None
    sent: int
    pending: int
    in_doubt: int
    skipped: dict[str, int] = Field(description="by reason: holdout, opted out, no credit, cancelled ...")
    failed: dict[str, int] = Field(description="by WeChat errcode")
    opens: int = Field(description="customers who opened the mini-program from the message")
    recipients: ConversionsOut
    holdout: ConversionsOut


# ----- routes -----------------------------------------------------------------------------------------


def add_campaign_routes(router: APIRouter, api: CampaignBackend, auth: RoleCheck) -> None:
    marketers = auth.requiring(Role.MARKETER)

    def tools() -> CampaignTools:
        if api.campaigns is None:
            raise CampaignsUnavailable("campaigns are not set up on this service")
        return api.campaigns

    @router.get("/subscribe-templates", response_model=TemplatesOut,
                summary="Subscribe templates with their fields and rules (for the campaign form)")
    def templates(purpose: Purpose | None = PURPOSE,
                  principal: Principal = marketers) -> TemplatesOut:
        current = tools()
        registry = current.registry()
        chosen = registry.templates if purpose is None else registry.for_purpose(purpose)
        return TemplatesOut(timezone=current.timezone, templates=[_template_out(t) for t in chosen])

    @router.post("/campaigns/audience", response_model=AudienceOut,
                 summary="How many customers a tag expression selects, and how many can be sent to",
                 description="422 INVALID_TAG_EXPRESSION gives the parser's message and `position`.")
    def audience(body: AudienceIn, principal: Principal = marketers) -> AudienceOut:
        registry = tools().registry()
        with api.factory() as session:
            counted = count_audience(session, audience=body.audience, template_id=body.template_id,
                                     registry=registry)
        return AudienceOut(total=counted.total, with_credit=counted.with_credit,
                           without_credit=counted.without_credit, opted_out=counted.opted_out)

    @router.post("/campaigns/preview", response_model=PreviewOut,
                 summary="The message as the customer will see it, or 422 naming the field and rule")
    def preview(body: PreviewIn, principal: Principal = marketers) -> PreviewOut:
        template = tools().registry().get(body.template_id)
        checked = template.check(body.data)
        return PreviewOut(title=template.title, lines=[
            # check() only trims and shortens: a value that differs from the trimmed input was cut to fit.
            PreviewLineOut(key=f.key, label=f.label, value=checked[f.key],
                           shortened=checked[f.key] != body.data.get(f.key, "").strip())
            for f in template.fields])

    @router.get("/campaigns", response_model=CampaignList, summary="Campaigns, newest first, with progress")
    def campaigns(principal: Principal = marketers) -> CampaignList:
        tools()  # 503 when outreach is not set up
        with api.factory() as session:
            rows = list_campaigns(session, limit=LIST_LIMIT)
            counted = progress_of(session, rows)  # one grouped query for the page
        return CampaignList(campaigns=[_campaign_out(row, counted[row.id]) for row in rows])

    @router.post("/campaigns", response_model=CampaignOut, status_code=201, summary="Write a draft")
    def create(body: CampaignIn, principal: Principal = marketers) -> CampaignOut:
        current = tools()
        draft = _draft(body.name, body.audience, body.template_id, body.data, body.scheduled_at,
                       body.throttle_per_s, body.holdout_pct)
        with transaction(api.factory) as session:
            campaign_id = create_campaign(session, draft=draft, by=principal.username, registry=current.registry(),
                                          now=utcnow()).id
        return _read(api.factory, campaign_id, current)

    @router.get("/campaigns/{campaign_id}", response_model=CampaignOut, summary="One campaign")
    def one(campaign_id: int = CAMPAIGN_ID, principal: Principal = marketers) -> CampaignOut:
        return _read(api.factory, campaign_id, tools())

    @router.patch("/campaigns/{campaign_id}", response_model=CampaignOut,
                  summary="Change a draft (409 CAMPAIGN_STATE once it is scheduled)")
    def change(body: CampaignPatch, campaign_id: int = CAMPAIGN_ID, principal: Principal = marketers) -> CampaignOut:
        current = tools()
        given = body.model_fields_set
        with transaction(api.factory) as session:
            row = get_campaign(session, campaign_id)
            draft = _draft(
                body.name if body.name is not None else row.name,
                body.audience if body.audience is not None else row.audience,
                body.template_id if body.template_id is not None else row.template_id,
                body.data if body.data is not None else dict(row.data),
                body.scheduled_at if "scheduled_at" in given else row.scheduled_at,
                body.throttle_per_s if body.throttle_per_s is not None else row.throttle_per_s,
                body.holdout_pct if body.holdout_pct is not None else row.holdout_pct,
            )
            update_campaign(session, campaign_id, draft=draft, by=principal.username, registry=current.registry(),
                            now=utcnow())
        return _read(api.factory, campaign_id, current)

    @router.post("/campaigns/{campaign_id}/schedule", response_model=CampaignOut,
                 summary="Schedule a draft (data checked again against the current templates)")
    def schedule(body: ScheduleIn | None = None, campaign_id: int = CAMPAIGN_ID,
                 principal: Principal = marketers) -> CampaignOut:
        current = tools()
        at = body.at.astimezone(UTC) if body is not None and body.at is not None else None
        with transaction(api.factory) as session:
            schedule_campaign(session, campaign_id, by=principal.username, registry=current.registry(),
                              now=utcnow(), at=at)
        return _read(api.factory, campaign_id, current)

    def move(operation: Callable[..., Campaign], summary: str) -> None:
        name = operation.__name__.removesuffix("_campaign")

        @router.post(f"/campaigns/{{campaign_id}}/{name}", response_model=CampaignOut, summary=summary,
                     name=f"{name}_campaign")
        def moved(campaign_id: int = CAMPAIGN_ID, principal: Principal = marketers) -> CampaignOut:
            current = tools()
            with transaction(api.factory) as session:
                operation(session, campaign_id, by=principal.username, now=utcnow())
            return _read(api.factory, campaign_id, current)

    move(pause_campaign, "Pause: sending stops where it is (409 CAMPAIGN_STATE if it cannot)")
    move(resume_campaign, "Resume: sending carries on where it stopped, or waits for its time")
    move(cancel_campaign, "Cancel for good: recipients not yet sent are skipped")

    @router.get("/campaigns/{campaign_id}/report", response_model=ReportOut,
                summary="Results: sent, skipped by reason, failed by code, opens, orders and GMV vs the holdout")
    def report(campaign_id: int = CAMPAIGN_ID, principal: Principal = marketers) -> ReportOut:
        with api.factory() as session:
            return ReportOut.model_validate(campaign_report(session, campaign_id))


def _draft(name: str, audience: str, template_id: str, data: dict[str, str], scheduled_at: datetime | None,
           throttle_per_s: int, holdout_pct: int) -> CampaignDraft:
    # The expression is parsed here first so that a bad one is refused as INVALID_TAG_EXPRESSION with the
    # parser's `position` (the same answer as the audience count), which the console points at.
    parse_tag_expression(audience)
    return CampaignDraft(name=name, audience=audience, template_id=template_id, data=data,
                         scheduled_at=scheduled_at.astimezone(UTC) if scheduled_at is not None else None,
                         throttle_per_s=throttle_per_s, holdout_pct=holdout_pct)


def _template_out(template: Template) -> TemplateOut:
    return TemplateOut(id=template.id, title=template.title, channel=template.channel, purpose=template.purpose,
                       fields=[TemplateFieldOut(key=f.key, label=f.label, type=f.type, rule=RULES[f.type].description,
                                                limit=RULES[f.type].limit,
                                                shorten=f.shorten and RULES[f.type].shortenable)
                               for f in template.fields])


def _read(factory: sessionmaker[Session], campaign_id: int, tools: CampaignTools) -> CampaignOut:
    """The campaign as it is after the change committed (a session of its own)."""
    with factory() as session:
        row = get_campaign(session, campaign_id)
        counted = progress_of(session, [row])[row.id]
    return _campaign_out(row, counted)


def _campaign_out(row: Campaign, counted: Counted) -> CampaignOut:
    progress = ProgressOut(done=counted.done, sent=counted.sent, total=counted.total)
    return CampaignOut(
        id=row.id, name=row.name, audience=row.audience, template_id=row.template_id, data=dict(row.data),
        state=CampaignState(row.state), scheduled_at=row.scheduled_at, throttle_per_s=row.throttle_per_s,
        holdout_pct=row.holdout_pct, created_by=row.created_by, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, audience_size=row.audience_size,
        progress=progress,
    )
