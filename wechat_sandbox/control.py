"""Control endpoints under /control/: what tests and the page use to steer the sandbox."""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .config import SandboxAccount
from .customer import push_to_store
from .push import verify_url
from .state import Action, SandboxState, iso_utc
from .templates import make_template
from .xmlcodec import XmlFields, XmlNode

OPENID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# Where the popup opened: 0 a mini-program page; on an Official Account 1 an H5 page, 2 a message.
POPUP_SCENES = {"mp": frozenset({0}), "oa": frozenset({1, 2})}
DEFAULT_POPUP_SCENE = {"mp": 0, "oa": 2}


class ConsentBody(BaseModel):
    account: str
    openid: str
    template_id: str
    count: int = Field(default=1, ge=1)


class TemplateBody(BaseModel):
    """A template as wxaapi/newtmpl/gettemplate lists it, for the account named."""

    model_config = ConfigDict(populate_by_name=True)

    account: str
    pri_tmpl_id: str = Field(alias="priTmplId", min_length=1)
    title: str = Field(min_length=1)
    content: str  # "商品名称:{{thing1.DATA}}\n价格:{{amount2.DATA}}\n"
    example: str = ""
    type: Literal[2, 3] = 2


class PopupBody(BaseModel):
    account: str
    openid: str = Field(pattern=OPENID_PATTERN)
    results: dict[str, Literal["accept", "reject"]]  # template_id -> what the user tapped
    scene: int | None = None  # PopupScene; None: the account kind's usual one


class SubscribeChangeBody(BaseModel):
    account: str
    openid: str = Field(pattern=OPENID_PATTERN)
    template_ids: list[str]


class CustomerBody(BaseModel):
    account: str
    openid: str


class AccountBody(BaseModel):
    account: str | None = None  # None: every account


class FaultBody(BaseModel):
    api: str
    errcode: int
    times: int = Field(default=1, ge=1)
    account: str | None = None  # None: whichever account calls


class VerifyBody(BaseModel):
    account: str


class ClockBody(BaseModel):
    seconds: float = Field(ge=0)


def _unknown(account: str | None) -> JSONResponse:
    return JSONResponse({"error": f"unknown account {account!r}"}, status_code=404)


def _describe(account: SandboxAccount) -> dict[str, Any]:
    return {
        "kind": account.kind,
        "app_id": account.app_id,
        "original_id": account.original_id,
        "message_mode": account.message_mode,
        "webhook_url": account.webhook_url,
    }


def _subscription_event(
    account: SandboxAccount, openid: str, event: str, group: str, items: list[list[tuple[str, XmlNode]]]
) -> XmlFields:
    """subscribe_msg_popup_event / subscribe_msg_change_event as WeChat pushes them: one <List> per template."""
    return [
        ("ToUserName", account.original_id),
        ("FromUserName", openid),
        ("CreateTime", int(time.time())),
        ("MsgType", "event"),
        ("Event", event),
        (group, [("List", item) for item in items]),
    ]


def build_control_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/control")

    @router.get("/calls")
    def calls(api: str | None = None, account: str | None = None) -> Response:
        found = state.resolve_account(account) if account else None
        if account and found is None:
            return _unknown(account)
        return JSONResponse(state.call_record(api, found.app_id if found else None))

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        state.reset()
        return {"ok": True}

    @router.post("/consent")
    def consent(body: ConsentBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        left = state.add_consent(found.app_id, body.openid, body.template_id, body.count)
        return JSONResponse({"ok": True, "credits": left})

    @router.get("/templates")
    def templates(account: str = Query(...)) -> Response:
        found = state.resolve_account(account)
        if found is None:
            return _unknown(account)
        return JSONResponse([t.listing() for t in state.templates(found.app_id)])

    @router.post("/templates")
    def put_template(body: TemplateBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        raw = {"priTmplId": body.pri_tmpl_id, "title": body.title, "content": body.content,
               "example": body.example, "type": body.type}
        try:
            template = make_template(raw)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        replaced = state.put_template(found.app_id, template)
        return JSONResponse({"ok": True, "replaced": replaced, "template": template.listing()})

    @router.post("/subscribe-popup")
    async def subscribe_popup(body: PopupBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        scene = DEFAULT_POPUP_SCENE[found.kind] if body.scene is None else body.scene
        if scene not in POPUP_SCENES[found.kind]:
            return JSONResponse({"error": f"PopupScene {scene} does not occur on a {found.kind} account"}, 400)
        try:
            credits = state.subscribe_popup(found.app_id, body.openid, dict(body.results))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        items: list[list[tuple[str, XmlNode]]] = [
            [("TemplateId", tid), ("SubscribeStatusString", status), ("PopupScene", scene)]
            for tid, status in body.results.items()
        ]
        fields = _subscription_event(found, body.openid, "subscribe_msg_popup_event", "SubscribeMsgPopupEvent", items)
        push = await push_to_store(state, found, body.openid, fields, is_event=True, retry=True)
        return JSONResponse({"ok": True, "credits": credits, "push": push})

    @router.post("/subscribe-change")
    async def subscribe_change(body: SubscribeChangeBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        try:
            credits = state.subscribe_change(found.app_id, body.openid, body.template_ids)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        # WeChat pushes only the user's refusals from the notification settings.
        items: list[list[tuple[str, XmlNode]]] = [
            [("TemplateId", tid), ("SubscribeStatusString", "reject")] for tid in credits
        ]
        fields = _subscription_event(found, body.openid, "subscribe_msg_change_event", "SubscribeMsgChangeEvent", items)
        push = await push_to_store(state, found, body.openid, fields, is_event=True, retry=True)
        return JSONResponse({"ok": True, "credits": credits, "push": push})

    @router.post("/payment")
    def payment(body: CustomerBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        state.record_action(found.app_id, body.openid, Action.PAYMENT)
        return JSONResponse({"ok": True})

    @router.post("/expire-tokens")
    def expire_tokens(body: AccountBody) -> Response:
        found = state.resolve_account(body.account) if body.account else None
        if body.account and found is None:
            return _unknown(body.account)
        return JSONResponse({"ok": True, "expired": state.expire_tokens(found.app_id if found else None)})

    @router.post("/faults")
    def faults(body: FaultBody) -> Response:
        found = state.resolve_account(body.account) if body.account else None
        if body.account and found is None:
            return _unknown(body.account)
        state.add_fault(body.api, body.errcode, body.times, found.app_id if found else None)
        return JSONResponse({"ok": True})

    @router.post("/advance-clock")
    def advance_clock(body: ClockBody) -> dict[str, Any]:
        # Lets tests cross a 60 s or 48 h window without sleeping.
        now = state.advance_clock(body.seconds)
        return {"ok": True, "offset_s": state.clock.offset_s, "now": iso_utc(now)}

    @router.get("/accounts")
    def accounts() -> list[dict[str, Any]]:
        return [_describe(a) for a in state.config.accounts]

    @router.get("/customer")
    def customer(account: str = Query(...), openid: str = Query(...)) -> Response:
        found = state.resolve_account(account)
        if found is None:
            return _unknown(account)
        info = state.window_info(found.app_id, openid)
        return JSONResponse(info if info else {"error": "unknown openid"}, status_code=200 if info else 404)

    @router.get("/menu")
    def menu(account: str = Query(...)) -> Response:
        found = state.resolve_account(account)
        if found is None:
            return _unknown(account)
        return JSONResponse({"menu": state.menu(found.app_id)})

    @router.post("/verify-url")
    async def verify(body: VerifyBody) -> Response:
        found = state.resolve_account(body.account)
        if found is None:
            return _unknown(body.account)
        return JSONResponse(await verify_url(found, state.config.push_timeout_s))

    return router
