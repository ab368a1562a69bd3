"""The mini-program's subscribe-message routes: which templates to ask consent for, the consent ledger,
and pages opened from a message (for attribution).

The client never hard-codes a template id: it asks `GET /mp/subscriptions/templates?purpose=order`,
passes the ids to `wx.requestSubscribeMessage`, and posts what that returned to `POST /mp/subscriptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bot.conversation import customer_id as ensure_customer
from bot.models import Channel
from bot.outreach.consent import parse_consents, record_consents
from bot.outreach.models import PageOpen
from bot.outreach.templates import TemplateRegistry
from miniprogram.api import TOKEN, MpApi

# A module-level default, as FastAPI's parameters are declared elsewhere in this package.
CONSENT_EXAMPLE = {"sbx_mp_order_paid": "accept", "sbx_mp_order_shipped": "reject",
                   "errMsg": "requestSubscribeMessage:ok"}
CONSENT_BODY = Body(..., examples=[CONSENT_EXAMPLE])


class TemplateOut(BaseModel):
    template_id: str
    title: str
    purpose: str


class TemplatesOut(BaseModel):
    templates: list[TemplateOut]


class CreditsOut(BaseModel):
    credits: dict[str, int] = Field(description="credits now held per template posted")


class OpenIn(BaseModel):
    src: Literal["campaign", "cart_reminder", "notice", "card", "share"]
    ref: int | None = Field(None, ge=1, description="the campaign (`c=`) or reminder (`r=`) id the page carried")
    page: str = Field("", max_length=64)


def add_subscription_routes(router: APIRouter, api: MpApi, templates: Callable[[], TemplateRegistry]) -> None:
    @router.get("/subscriptions/templates", response_model=TemplatesOut,
                summary="The templates to ask consent for (wx.requestSubscribeMessage)")
    def templates_to_ask(
        purpose: str = Query(..., max_length=24, description="`order` (at checkout), `cart` or `marketing`"),
    ) -> TemplatesOut:
        chosen = templates().to_ask(purpose, Channel.MP)
        return TemplatesOut(templates=[TemplateOut(template_id=t.id, title=t.title, purpose=t.purpose)
                                       for t in chosen])

    @router.post("/subscriptions", response_model=CreditsOut,
                 summary="Record what wx.requestSubscribeMessage returned",
                 description="The body is the object `wx.requestSubscribeMessage` resolves with: "
                             "`{template_id: accept|reject|ban|filter}` (its `errMsg` is ignored). "
                             "Each accept is one credit: one subscribe message the store may send.")
    def record(body: dict[str, Any] = CONSENT_BODY, token: str = TOKEN) -> CreditsOut:
        results = parse_consents(body)
        now = api.clock()
        with api.customer(token) as (session, openid):
            customer = ensure_customer(session, channel=Channel.MP, openid=openid, now=now)
            credits = record_consents(session, customer_id=customer, results=results, source="mp_request",
                                      registry=templates(), now=now)
        return CreditsOut(credits=credits)

    @router.post("/opens", status_code=204, summary="A page opened from a message (campaign, reminder, notice)")
    def opened(body: OpenIn, token: str = TOKEN) -> Response:
        with api.customer(token) as (session, openid):
            session.add(PageOpen(openid=openid, src=body.src, ref_id=body.ref, page=body.page, at=api.clock()))
        return Response(status_code=204)
