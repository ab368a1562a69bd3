"""What the console needs besides conversations, under /staff/api/: the live event stream (Server-Sent
Events), canned replies, product search for cards, and agents' figures (ratings, response times).

The stream is the table `console_events` read after the last id the console saw: a new connection starts
at the newest event (a `hello` event says which), a reconnecting EventSource sends `Last-Event-ID` and gets
what it missed. `bot.live.LiveFeed` wakes the stream when there may be something new (PostgreSQL
LISTEN/NOTIFY across processes, or a poll of SQLite), and a comment line every `HEARTBEAT_S` keeps proxies
from closing an idle connection. An agent is sent only the events of their groups' conversations and of
conversations assigned to them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from bot.actions.products import price_range
from bot.handoff.desk import HandoffDesk
from bot.handoff.stats import AgentFigures, agent_figures, period_starts
from bot.live import ConsoleEvent, LiveFeed, LiveKind, LiveRow, events_after, last_event_id
from commerce.catalog import list_products, search_products
from staff.errors import NotSignedIn, StaffError
from staff.models import CannedReply, StaffMember
from staff.personal_data import masked_for
from staff.roles import ALL_GROUPS_ROLES, Principal, Role
from storage.clock import utcnow
from storage.db import transaction
from web.schemas import MAX_INT, StrictBody

HEARTBEAT_S = 15.0
REAUTH_EVERY = 4  # heartbeats between checks that the session is still good (a minute)
EVENTS_PER_READ = 200
SENT_KEPT = 2048  # ids a stream remembers having sent, so a late-committed row is not sent twice


class ConsoleBackend(Protocol):
    @property
    def factory(self) -> sessionmaker[Session]: ...

    @property
    def handoff(self) -> HandoffDesk | None: ...

    @property
    def live(self) -> LiveFeed | None: ...


class Auth(Protocol):
    def requiring(self, *roles: Role) -> Any: ...

    def __call__(self, request: Request) -> Principal: ...


class CannedReplyNotFound(StaffError):
    code = "CANNED_REPLY_NOT_FOUND"


class CannedReplyExists(StaffError):
    code = "CANNED_REPLY_EXISTS"


class CannedReplyIn(StrictBody):
    shortcut: str = Field(min_length=1, max_length=32, pattern=r"^[^\s/]+$",
                          description="typed after a slash in the reply box: 发货 for /发货")
    text: str = Field(min_length=1, max_length=2000)


class CannedReplyOut(BaseModel):
    id: int
    shortcut: str
    text: str
    updated_by: str
    updated_at: datetime


class ProductOut(BaseModel):
    id: str
    title: str
    category: str
    price_range: str = Field(description="¥259–¥299 over the SKUs on sale")
    image: str


class AgentFiguresOut(BaseModel):
    username: str | None
    display_name: str
    resolved: int
    csat_avg: float | None = Field(description="average 1-5 rating; None: no ratings")
    csat_count: int
    first_response_s: float | None = Field(description="median seconds from assignment to the first answer")
    resolution_s: float | None = Field(description="median seconds from assignment to resolution")


class AgentStatsOut(BaseModel):
    today: list[AgentFiguresOut]
    last_7_days: list[AgentFiguresOut]


def add_console_routes(router: APIRouter, api: ConsoleBackend, auth: Auth) -> None:
    _add_event_route(router, api, auth)
    _add_canned_routes(router, api, auth)
    _add_lookup_routes(router, api, auth)


# -- the event stream ----------------------------------------------------------------------------------


def _add_event_route(router: APIRouter, api: ConsoleBackend, auth: Auth) -> None:
    chat_staff = auth.requiring(Role.AGENT, Role.SUPERVISOR)

    @router.get("/events", summary="Live updates (Server-Sent Events); resumes from Last-Event-ID",
                response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}},
                                 "description": "events: hello, handoff, message, delivery, note, agent, csat"}})
    async def events(request: Request,
                     after: int | None = Query(None, ge=0, le=MAX_INT, description="resume after this id"),
                     principal: Principal = chat_staff) -> StreamingResponse:
        resume = _resume_point(request, after)
        start = resume if resume is not None else await run_in_threadpool(_newest_id, api.factory)
        stream = _stream(request, api, auth, principal, start)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _resume_point(request: Request, after: int | None) -> int | None:
    header = request.headers.get("last-event-id", "").strip()
    return int(header) if header.isdigit() else after


def _newest_id(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return last_event_id(session)


async def _stream(request: Request, api: ConsoleBackend, auth: Auth, principal: Principal,
                  start: int) -> AsyncIterator[str]:
    """`hello`, then every visible event after `start`: first what the table holds (a reconnect's catch-up),
    then what this process's feed hands on as it arrives (one query per change for every stream)."""
    sees = _visibility(principal)
    feed = api.live
    if feed is not None:
        await _feed_ready(feed)
    position = feed.position() if feed is not None else 0  # before the catch-up read: nothing falls between
    yield _sse("hello", {"last_id": start}, start)
    sent: set[int] = set()
    last = start
    while True:  # the catch-up, a page at a time
        missed = await run_in_threadpool(_read, api.factory, last)
        for row in missed:
            last = row.id
            sent.add(row.id)
            if sees(row):
                yield _sse(row.kind, masked_for(principal, row.data), row.id)
        if len(missed) < EVENTS_PER_READ:
            break
    quiet = 0
    while not await request.is_disconnected():
        if feed is None:
            await asyncio.sleep(1.0)
            rows: list[Any] = await run_in_threadpool(_read, api.factory, last)
        else:
            await feed.wait(HEARTBEAT_S)
            held = feed.since(position)
            if held is None:  # fell too far behind the feed: read the table
                rows, position = await run_in_threadpool(_read, api.factory, last), feed.position()
            else:
                rows, position = held
        for row in rows:
            if row.id in sent:
                continue
            sent.add(row.id)
            last = max(last, row.id)
            if sees(row):
                yield _sse(row.kind, masked_for(principal, row.data), row.id)
        if len(sent) > SENT_KEPT:
            sent = {event_id for event_id in sent if event_id > last - SENT_KEPT}
        quiet = 0 if rows else quiet + 1
        if not rows:
            yield ": keep-alive\n\n"
            if quiet % REAUTH_EVERY == 0 and not await run_in_threadpool(_still_signed_in, auth, request):
                return


async def _feed_ready(feed: LiveFeed, timeout_s: float = 5.0) -> None:
    """The feed's first read done (only just after the process starts), so that the catch-up read and
    the feed leave no row between them."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    feed.start()
    while not feed.ready() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def _read(factory: sessionmaker[Session], after: int) -> list[ConsoleEvent]:
    with factory() as session:
        rows = events_after(session, after, EVENTS_PER_READ)
        session.expunge_all()
        return rows


def _still_signed_in(auth: Auth, request: Request) -> bool:
    try:
        auth(request)
    except NotSignedIn:
        return False
    return True


def _visibility(principal: Principal) -> Callable[[ConsoleEvent | LiveRow], bool]:
    if principal.role in ALL_GROUPS_ROLES:
        return lambda row: True
    groups = set(principal.groups)

    def sees(row: ConsoleEvent | LiveRow) -> bool:
        if row.kind == LiveKind.AGENT:
            return row.agent_id == principal.staff_id
        return row.agent_id == principal.staff_id or (row.group is not None and row.group in groups)

    return sees


def _sse(kind: str, data: dict[str, Any], event_id: int) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# -- canned replies ------------------------------------------------------------------------------------


def _add_canned_routes(router: APIRouter, api: ConsoleBackend, auth: Auth) -> None:
    chat_staff = auth.requiring(Role.AGENT, Role.SUPERVISOR)
    managers = auth.requiring(Role.SUPERVISOR)

    @router.get("/canned-replies", response_model=list[CannedReplyOut], summary="Canned replies, by shortcut")
    def canned_replies(principal: Principal = chat_staff) -> list[CannedReplyOut]:
        with api.factory() as session:
            rows = session.scalars(select(CannedReply).order_by(CannedReply.shortcut)).all()
            return [_canned_out(row) for row in rows]

    @router.post("/canned-replies", response_model=CannedReplyOut, status_code=201,
                 summary="Add a canned reply (supervisors)")
    def add_canned_reply(body: CannedReplyIn, principal: Principal = managers) -> CannedReplyOut:
        return _save_canned(api.factory, None, body, principal)

    @router.put("/canned-replies/{reply_id}", response_model=CannedReplyOut, summary="Change a canned reply")
    def change_canned_reply(body: CannedReplyIn, reply_id: int = Path(ge=1, le=MAX_INT),
                            principal: Principal = managers) -> CannedReplyOut:
        return _save_canned(api.factory, reply_id, body, principal)

    @router.delete("/canned-replies/{reply_id}", status_code=204, summary="Remove a canned reply")
    def remove_canned_reply(reply_id: int = Path(ge=1, le=MAX_INT), principal: Principal = managers) -> Response:
        with transaction(api.factory) as session:
            session.delete(_canned(session, reply_id))
        return Response(status_code=204)


def _save_canned(factory: sessionmaker[Session], reply_id: int | None, body: CannedReplyIn,
                 principal: Principal) -> CannedReplyOut:
    try:
        with transaction(factory) as session:
            row = CannedReply() if reply_id is None else _canned(session, reply_id)
            row.shortcut, row.text = body.shortcut.strip(), body.text.strip()
            row.updated_by, row.updated_at = principal.username, utcnow()
            session.add(row)
            session.flush()
            return _canned_out(row)
    except IntegrityError:
        raise CannedReplyExists(f"a canned reply /{body.shortcut} exists already", shortcut=body.shortcut) from None


def _canned(session: Session, reply_id: int) -> CannedReply:
    row = session.get(CannedReply, reply_id)
    if row is None:
        raise CannedReplyNotFound(f"no canned reply {reply_id}")
    return row


def _canned_out(row: CannedReply) -> CannedReplyOut:
    return CannedReplyOut(id=row.id, shortcut=row.shortcut, text=row.text, updated_by=row.updated_by,
                          updated_at=row.updated_at)


# -- products and figures ------------------------------------------------------------------------------


def _add_lookup_routes(router: APIRouter, api: ConsoleBackend, auth: Auth) -> None:
    chat_staff = auth.requiring(Role.AGENT, Role.SUPERVISOR)

    @router.get("/products", response_model=list[ProductOut], summary="Products on sale, for a card")
    def products(q: str = Query("", max_length=60, description="words of the title or category"),
                 limit: int = Query(10, ge=1, le=50), principal: Principal = chat_staff) -> list[ProductOut]:
        with api.factory() as session:
            words = [[word] for word in q.split()]
            found = search_products(session, words, limit=limit).products if words else list_products(
                session, limit=limit)
            return [ProductOut(id=p.id, title=p.title, category=p.category, price_range=price_range(p),
                               image=p.images[0] if p.images else "") for p in found]

    @router.get("/stats/agents", response_model=AgentStatsOut,
                summary="Each agent's resolved conversations, average rating and response times")
    def agent_stats(principal: Principal = chat_staff) -> AgentStatsOut:
        zone = api.handoff.routing.zone if api.handoff is not None else ZoneInfo("UTC")
        starts = period_starts(utcnow(), zone)
        with api.factory() as session:
            names = dict(session.execute(select(StaffMember.id, StaffMember.username)).tuples().all())
            return AgentStatsOut(**{period: [_figures_out(f, names) for f in agent_figures(session, since=since)]
                                    for period, since in starts.items()})


def _figures_out(figures: AgentFigures, usernames: dict[int, str]) -> AgentFiguresOut:
    return AgentFiguresOut(username=usernames.get(figures.staff_id), display_name=figures.display_name,
                           resolved=figures.resolved, csat_avg=figures.csat_avg, csat_count=figures.csat_count,
                           first_response_s=figures.first_response_s, resolution_s=figures.resolution_s)

