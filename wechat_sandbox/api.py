"""The WeChat server API under /api/: same paths, parameters and JSON as api.weixin.qq.com.

Every call goes through one dispatcher: find the API, check the access token, apply an
injected fault, run the handler, and append the exchange to the call record.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from .config import AccountKind, SandboxAccount
from .errors import WeChatError, ok
from .state import SandboxState, normalize_api
from .tags import TagBook

MAX_MENU_BUTTONS = 3
MAX_SUB_BUTTONS = 5
RECORDED_TEXT_LIMIT = 4000


@dataclass
class CallContext:
    """One API call as the handler sees it."""

    state: SandboxState
    account: SandboxAccount | None
    query: dict[str, str]
    raw: bytes
    content_type: str
    parsed_body: Any = field(default=None)

    @property
    def app_id(self) -> str:
        assert self.account is not None, "token-checked APIs always have an account"
        return self.account.app_id

    def json(self) -> dict[str, Any]:
        """The JSON body; WeChat answers 44002 to an empty one and 47001 to anything not JSON."""
        if not self.raw.strip():
            raise WeChatError(44002)
        try:
            body = json.loads(self.raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise WeChatError(47001) from exc
        if not isinstance(body, dict):
            raise WeChatError(47001)
        self.parsed_body = body
        return body


Result = dict[str, Any] | Response
Handler = Callable[[CallContext], Result]


@dataclass(frozen=True)
class ApiSpec:
    handler: Handler
    kinds: frozenset[AccountKind] = frozenset({"oa", "mp"})
    needs_token: bool = True


# ----- handlers -------------------------------------------------------------------------


def get_token(ctx: CallContext) -> Result:
    return ctx.state.issue_token(ctx.query)


def code_to_session(ctx: CallContext) -> Result:
    return ctx.state.code_to_session(ctx.query)


def custom_send(ctx: CallContext) -> Result:
    return ctx.state.send_custom(ctx.app_id, ctx.json())


def custom_typing(ctx: CallContext) -> Result:
    return ctx.state.typing(ctx.app_id, ctx.json())


def subscribe_send(ctx: CallContext) -> Result:
    return ctx.state.send_subscribe(ctx.app_id, ctx.json())


def templates_get(ctx: CallContext) -> Result:
    # The mini-program's 我的模板 and the Official Account's 订阅通知 share this path and answer.
    return ok(data=[t.listing() for t in ctx.state.templates(ctx.app_id)])


def _multipart_file(raw: bytes, content_type: str, name: str) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of one multipart/form-data file field, via the stdlib parser."""
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == name:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            return part.get_filename() or "media", part.get_content_type(), data
    return None


def media_upload(ctx: CallContext) -> Result:
    media_type = ctx.query.get("type", "")
    if media_type not in ("image", "voice", "video", "thumb"):
        raise WeChatError(40004)
    upload = _multipart_file(ctx.raw, ctx.content_type, "media")
    if upload is None or not upload[2]:
        raise WeChatError(41005)
    filename, content_type, data = upload
    ctx.parsed_body = {"type": media_type, "filename": filename, "bytes": len(data)}
    media = ctx.state.store_media(ctx.app_id, media_type, filename, content_type, data)
    # WeChat names a thumb's id thumb_media_id; media_id is kept too so callers need no special case.
    extra = {"thumb_media_id": media.media_id} if media_type == "thumb" else {}
    return ok(type=media_type, media_id=media.media_id, created_at=media.created_at, **extra)


def media_get(ctx: CallContext) -> Result:
    media = ctx.state.get_media(ctx.app_id, ctx.query.get("media_id", ""))
    disposition = f'attachment; filename="{media.filename}"'
    return Response(media.data, media_type=media.content_type, headers={"Content-Disposition": disposition})


def tags_create(ctx: CallContext) -> Result:
    tag = ctx.json().get("tag")
    with ctx.state.lock:
        created = ctx.state.tag_book(ctx.app_id).create(tag.get("name") if isinstance(tag, dict) else None)
    return ok(tag=created)


def tags_get(ctx: CallContext) -> Result:
    with ctx.state.lock:
        return ok(tags=ctx.state.tag_book(ctx.app_id).listing())


def _tag_of(body: dict[str, Any]) -> dict[str, Any]:
    tag = body.get("tag")
    if not isinstance(tag, dict):
        raise WeChatError(47001, "tag missing")
    return tag


def tags_update(ctx: CallContext) -> Result:
    tag = _tag_of(ctx.json())
    with ctx.state.lock:
        ctx.state.tag_book(ctx.app_id).update(tag.get("id"), tag.get("name"))
    return ok()


def tags_delete(ctx: CallContext) -> Result:
    tag = _tag_of(ctx.json())
    with ctx.state.lock:
        ctx.state.tag_book(ctx.app_id).delete(tag.get("id"))
    return ok()


def tags_batch_tag(ctx: CallContext) -> Result:
    return _tag_members(ctx, TagBook.tag)


def tags_batch_untag(ctx: CallContext) -> Result:
    return _tag_members(ctx, TagBook.untag)


def _tag_members(ctx: CallContext, change: Callable[[TagBook, Any, Any, set[str]], None]) -> Result:
    body = ctx.json()
    with ctx.state.lock:
        known = ctx.state.known_openids(ctx.app_id)
        change(ctx.state.tag_book(ctx.app_id), body.get("openid_list"), body.get("tagid"), known)
    return ok()


def tags_of_user(ctx: CallContext) -> Result:
    openid = ctx.json().get("openid")
    with ctx.state.lock:
        if not isinstance(openid, str) or openid not in ctx.state.known_openids(ctx.app_id):
            raise WeChatError(40003)
        return ok(tagid_list=ctx.state.tag_book(ctx.app_id).tags_of(openid))


def users_of_tag(ctx: CallContext) -> Result:
    body = ctx.json()
    with ctx.state.lock:
        return ok(**ctx.state.tag_book(ctx.app_id).members_page(body.get("tagid"), body.get("next_openid")))


def _check_menu(menu: dict[str, Any]) -> None:
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_MENU_BUTTONS:
        raise WeChatError(40016)
    for button in buttons:
        if not isinstance(button, dict) or not button.get("name"):
            raise WeChatError(40018)
        subs = button.get("sub_button")
        if subs and (not isinstance(subs, list) or len(subs) > MAX_SUB_BUTTONS):
            raise WeChatError(40023)
        if not subs and not button.get("type"):
            raise WeChatError(40017)


def menu_create(ctx: CallContext) -> Result:
    menu = ctx.json()
    _check_menu(menu)
    ctx.state.set_menu(ctx.app_id, menu)
    return ok()


def menu_get(ctx: CallContext) -> Result:
    menu = ctx.state.menu(ctx.app_id)
    if menu is None:
        raise WeChatError(46003)
    return {"menu": menu}


def menu_delete(ctx: CallContext) -> Result:
    ctx.state.set_menu(ctx.app_id, None)
    return ok()


def user_info(ctx: CallContext) -> Result:
    return ctx.state.user_info(ctx.app_id, ctx.query.get("openid"))


OA_ONLY: frozenset[AccountKind] = frozenset({"oa"})
MP_ONLY: frozenset[AccountKind] = frozenset({"mp"})

ROUTES: dict[str, ApiSpec] = {
    "cgi-bin/token": ApiSpec(get_token, needs_token=False),
    "sns/jscode2session": ApiSpec(code_to_session, needs_token=False),
    "cgi-bin/message/custom/send": ApiSpec(custom_send),
    "cgi-bin/message/custom/typing": ApiSpec(custom_typing),
    "cgi-bin/media/upload": ApiSpec(media_upload),
    "cgi-bin/media/get": ApiSpec(media_get),
    "cgi-bin/tags/create": ApiSpec(tags_create, OA_ONLY),
    "cgi-bin/tags/get": ApiSpec(tags_get, OA_ONLY),
    "cgi-bin/tags/update": ApiSpec(tags_update, OA_ONLY),
    "cgi-bin/tags/delete": ApiSpec(tags_delete, OA_ONLY),
    "cgi-bin/tags/members/batchtagging": ApiSpec(tags_batch_tag, OA_ONLY),
    "cgi-bin/tags/members/batchuntagging": ApiSpec(tags_batch_untag, OA_ONLY),
    "cgi-bin/tags/getidlist": ApiSpec(tags_of_user, OA_ONLY),
    "cgi-bin/user/tag/get": ApiSpec(users_of_tag, OA_ONLY),
    "cgi-bin/user/info": ApiSpec(user_info, OA_ONLY),
    "cgi-bin/menu/create": ApiSpec(menu_create, OA_ONLY),
    "cgi-bin/menu/get": ApiSpec(menu_get, OA_ONLY),
    "cgi-bin/menu/delete": ApiSpec(menu_delete, OA_ONLY),
    "cgi-bin/message/subscribe/send": ApiSpec(subscribe_send, MP_ONLY),
    "cgi-bin/message/subscribe/bizsend": ApiSpec(subscribe_send, OA_ONLY),
    "wxaapi/newtmpl/gettemplate": ApiSpec(templates_get),
}


# ----- dispatch -------------------------------------------------------------------------


def _caller(state: SandboxState, spec: ApiSpec, query: dict[str, str]) -> SandboxAccount | None:
    """Who is calling: the token's account, or for token-less APIs the appid parameter."""
    if spec.needs_token:
        return state.account_for_token(query.get("access_token"))
    return state.resolve_account(query.get("appid")) if query.get("appid") in state.accounts else None


def run_call(ctx: CallContext, api: str, spec: ApiSpec) -> Result:
    """Token check, then any injected fault (before any effect), then the API itself."""
    ctx.account = _caller(ctx.state, spec, ctx.query)
    app_id = ctx.account.app_id if ctx.account else None
    fault = ctx.state.take_fault(api, app_id)
    if fault is not None:
        raise WeChatError(fault, "(injected fault)")
    if ctx.account is not None and ctx.account.kind not in spec.kinds:
        raise WeChatError(48001)
    return spec.handler(ctx)


def _recorded_query(query: dict[str, str]) -> dict[str, str]:
    # The record is shown on the page: never echo an app secret.
    return {k: ("***" if k == "secret" else v) for k, v in query.items()}


def _recorded_body(ctx: CallContext) -> Any:
    if ctx.parsed_body is not None:
        return ctx.parsed_body
    text = ctx.raw[:RECORDED_TEXT_LIMIT].decode("utf-8", "replace")
    return text or None


def dispatch(state: SandboxState, method: str, api: str, query: dict[str, str], raw: bytes, ctype: str) -> Response:
    spec = ROUTES.get(api)
    ctx = CallContext(state=state, account=None, query=query, raw=raw, content_type=ctype)
    status = 200
    try:
        if spec is None:
            status = 404
            raise WeChatError(48001, f"no such api: {api}")
        result = run_call(ctx, api, spec)
    except WeChatError as exc:
        result = exc.body()
    if isinstance(result, Response):
        recorded: Any = {"errcode": 0, "bytes": len(result.body)}
        response: Response = result
    else:
        recorded = result
        response = JSONResponse(result, status_code=status)
    state.record_call(
        {
            "api": api,
            "method": method,
            "account": ctx.account.app_id if ctx.account else None,
            "query": _recorded_query(query),
            "body": _recorded_body(ctx),
            "errcode": recorded.get("errcode", 0),
            "response": recorded,
        }
    )
    return response


def build_api_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.api_route("/api/{path:path}", methods=["GET", "POST"], include_in_schema=False)
    async def wechat_api(path: str, request: Request) -> Response:
        raw = await request.body()
        query = dict(request.query_params)
        ctype = request.headers.get("content-type", "")
        # State work takes a threading lock and may parse a 10 MB upload: keep it off the event loop.
        return await run_in_threadpool(dispatch, state, request.method, normalize_api(path), query, raw, ctype)

    return router
