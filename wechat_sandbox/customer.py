"""The simulated customer under /chat/: what the page and the tests do as a WeChat user.

A customer action is recorded first (it opens the reply window, as on WeChat's side), then
pushed to the account's webhook; a passive reply that WeChat would accept joins the transcript.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from .config import SandboxAccount
from .errors import WeChatError
from .push import deliver, read_reply, sign_push
from .state import Action, SandboxState, new_msg_id
from .xmlcodec import XmlFields, XmlValue

OA_EVENTS: dict[str, Action] = {
    "subscribe": Action.SUBSCRIBE,
    "unsubscribe": Action.UNSUBSCRIBE,
    "SCAN": Action.SCAN,
    "CLICK": Action.CLICK,
    "VIEW": Action.VIEW,
}
MP_EVENTS: dict[str, Action] = {"user_enter_tempsession": Action.ENTER_SESSION}
OA_MESSAGE_TYPES = frozenset({"text", "image", "event"})
MP_MESSAGE_TYPES = frozenset({"text", "image", "event", "miniprogrampage"})
EVENTS_NEEDING_KEY = frozenset({"CLICK", "VIEW", "SCAN"})
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What a customer's photo downloads as through media/get: a 1x1 PNG.
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class ChatSend(BaseModel):
    account: str
    openid: str
    type: Literal["text", "image", "event", "miniprogrampage"]
    content: str | None = None
    event: str | None = None
    event_key: str | None = None
    session_from: str | None = None
    bizmsgmenuid: str | int | None = None
    retry: bool = False
    # miniprogrampage cards a mini-program user sends into customer service
    title: str | None = None
    pagepath: str | None = None
    appid: str | None = None
    thumb_url: str | None = None


@dataclass
class CustomerMessage:
    action: Action
    fields: list[tuple[str, XmlValue]]
    msgtype: str
    payload: dict[str, Any]
    msg_id: int | None

    @property
    def is_event(self) -> bool:
        return self.msg_id is None


class BadRequest(ValueError):
    """A /chat/send request that no WeChat client could produce."""


def _header(account: SandboxAccount, req: ChatSend, msgtype: str) -> list[tuple[str, XmlValue]]:
    return [
        ("ToUserName", account.original_id),
        ("FromUserName", req.openid),
        ("CreateTime", int(time.time())),
        ("MsgType", msgtype),
    ]


def _text(account: SandboxAccount, req: ChatSend) -> CustomerMessage:
    if not req.content:
        raise BadRequest("a text message needs content")
    msg_id = new_msg_id()
    fields = [*_header(account, req, "text"), ("Content", req.content), ("MsgId", msg_id)]
    payload: dict[str, Any] = {"content": req.content}
    if req.bizmsgmenuid is not None:  # a tap on a msgmenu item comes back as text carrying its id
        menu_id = str(req.bizmsgmenuid)
        fields.append(("bizmsgmenuid", int(menu_id) if menu_id.isdigit() else menu_id))
        payload["bizmsgmenuid"] = menu_id
    return CustomerMessage(Action.MESSAGE, fields, "text", payload, msg_id)


def _image(account: SandboxAccount, req: ChatSend, media_id: str) -> CustomerMessage:
    msg_id = new_msg_id()
    pic_url = req.content or f"https://mmbiz.qpic.cn/sandbox/{media_id[:16]}/0"
    fields = [*_header(account, req, "image"), ("PicUrl", pic_url), ("MediaId", media_id), ("MsgId", msg_id)]
    return CustomerMessage(Action.MESSAGE, fields, "image", {"pic_url": pic_url, "media_id": media_id}, msg_id)


def _miniprogram_page(account: SandboxAccount, req: ChatSend, media_id: str) -> CustomerMessage:
    msg_id = new_msg_id()
    card = {
        "title": req.title or req.content or "",
        "appid": req.appid or account.app_id,
        "pagepath": req.pagepath or "pages/index/index",
        "thumb_url": req.thumb_url or "",
        "thumb_media_id": media_id,
    }
    fields = [
        *_header(account, req, "miniprogrampage"),
        ("MsgId", msg_id),
        ("Title", card["title"]),
        ("AppId", card["appid"]),
        ("PagePath", card["pagepath"]),
        ("ThumbUrl", card["thumb_url"]),
        ("ThumbMediaId", media_id),
    ]
    return CustomerMessage(Action.MESSAGE, fields, "miniprogrampage", card, msg_id)


def _event(account: SandboxAccount, req: ChatSend) -> CustomerMessage:
    events = OA_EVENTS if account.kind == "oa" else MP_EVENTS
    if req.event not in events:
        raise BadRequest(f"event must be one of {sorted(events)} for this account")
    if req.event in EVENTS_NEEDING_KEY and not req.event_key:
        raise BadRequest(f"{req.event} needs event_key")
    fields = [*_header(account, req, "event"), ("Event", req.event)]
    payload: dict[str, Any] = {"event": req.event}
    fields.extend(_event_extras(req, payload))
    return CustomerMessage(events[req.event], fields, "event", payload, None)


def _event_extras(req: ChatSend, payload: dict[str, Any]) -> list[tuple[str, XmlValue]]:
    """EventKey/Ticket/SessionFrom as WeChat adds them for each event."""
    key = req.event_key or ""
    if req.event == "subscribe" and key:  # followed through a QR code
        key = key if key.startswith("qrscene_") else f"qrscene_{key}"
        payload["event_key"] = key
        return [("EventKey", key), ("Ticket", secrets.token_urlsafe(24))]
    if req.event == "SCAN":
        payload["event_key"] = key
        return [("EventKey", key), ("Ticket", secrets.token_urlsafe(24))]
    if req.event in ("CLICK", "VIEW"):
        payload["event_key"] = key
        return [("EventKey", key)]
    if req.event == "user_enter_tempsession":
        payload["session_from"] = req.session_from or ""
        return [("SessionFrom", req.session_from or "")]
    return []


def check_request(account: SandboxAccount, req: ChatSend) -> None:
    allowed = OA_MESSAGE_TYPES if account.kind == "oa" else MP_MESSAGE_TYPES
    if req.type not in allowed:
        raise BadRequest(f"a {account.kind} customer cannot send {req.type}")
    if not OPENID.match(req.openid):
        raise BadRequest("openid must be 1-64 characters of [A-Za-z0-9_-]")


def build_customer_message(account: SandboxAccount, req: ChatSend, media_id: str | None) -> CustomerMessage:
    """The push fields, transcript entry and window action for a checked request."""
    if req.type == "text":
        return _text(account, req)
    if req.type == "event":
        return _event(account, req)
    assert media_id is not None, "image and miniprogrampage messages carry a media id"
    if req.type == "image":
        return _image(account, req, media_id)
    return _miniprogram_page(account, req, media_id)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def send_as_customer(state: SandboxState, account: SandboxAccount, req: ChatSend) -> dict[str, Any]:
    check_request(account, req)
    media_id = None
    if req.type in ("image", "miniprogrampage"):
        # What the customer sends is stored as media of the account, downloadable with media/get.
        kind = "image" if req.type == "image" else "thumb"
        media_id = state.store_media(account.app_id, kind, "customer.png", "image/png", PLACEHOLDER_PNG).media_id
    message = build_customer_message(account, req, media_id)
    state.record_action(account.app_id, req.openid, message.action, (message.msgtype, message.payload))
    result = await push_to_store(state, account, req.openid, message.fields, message.is_event, req.retry)
    return {**result, "msg_id": message.msg_id}


async def push_to_store(
    state: SandboxState, account: SandboxAccount, openid: str, fields: XmlFields, is_event: bool, retry: bool
) -> dict[str, Any]:
    """Push one message or event to the store's webhook as WeChat would, keeping an accepted passive reply."""
    push = sign_push(account, fields, openid)
    tries = state.config.push_tries if retry else 1
    delivery = await deliver(account.webhook_url, push, state.config.push_timeout_s, tries)
    passive = read_reply(account, openid, delivery, is_event)
    if passive.reply is not None:
        state.note_passive_reply(account.app_id, openid, passive.reply)
    return {
        "status": delivery.status,
        "tries": delivery.tries,
        "elapsed_ms": delivery.elapsed_ms,
        "reply": passive.reply,
        "reply_error": passive.error,
        "raw": delivery.raw,
    }


def build_customer_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/chat")

    @router.post("/send")
    async def chat_send(req: ChatSend) -> Response:
        account = state.resolve_account(req.account)
        if account is None:
            return _error(404, f"unknown account {req.account!r}")
        try:
            return JSONResponse(await send_as_customer(state, account, req))
        except BadRequest as exc:
            return _error(400, str(exc))

    @router.get("/transcript")
    def chat_transcript(account: str = Query(...), openid: str = Query(...)) -> Response:
        found = state.resolve_account(account)
        if found is None:
            return _error(404, f"unknown account {account!r}")
        return JSONResponse(state.transcript(found.app_id, openid))

    @router.get("/media/{media_id}")
    def chat_media(media_id: str, account: str = Query(...)) -> Response:
        # Lets the page show images the bot sent; same store as cgi-bin/media/get.
        found = state.resolve_account(account)
        if found is None:
            return _error(404, f"unknown account {account!r}")
        try:
            media = state.get_media(found.app_id, media_id)
        except WeChatError as exc:
            return _error(404, exc.errmsg)
        return Response(media.data, media_type=media.content_type)

    return router
