"""The staff JSON API under /staff/api/: login and logout, who I am, my availability, the staff list.

A request is signed in by the session cookie a login sets (HttpOnly, SameSite=Lax; a write must also
send the `X-CSRF-Token` the login returned) or by `Authorization: Bearer <personal token>` (no CSRF
token: browsers never send that header on their own). Routes say which roles they need with
`StaffAuth.requiring(...)`; refusals are mapped to statuses by `web.json_api`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.desk import HandoffDesk
from bot.live import LiveFeed
from staff.accounts import list_staff, secret_digest, set_status, staff_by_id
from staff.analytics_api import add_analytics_routes
from staff.backoffice import BackOffice
from staff.campaigns_api import CampaignTools, add_campaign_routes
from staff.catalog_api import add_catalog_routes
from staff.config import StaffConfig
from staff.console_api import add_console_routes
from staff.conversations_api import add_conversation_routes
from staff.customers_api import add_customer_routes
from staff.errors import BadCredentials, NotSignedIn
from staff.kb_api import add_kb_routes
from staff.models import StaffMember, StaffSession
from staff.orders_api import add_order_routes
from staff.roles import Principal, Role, Status, require
from staff.rules_api import add_rules_routes
from staff.sessions import authenticate, check_session, check_token, close_session, open_session
from storage.clock import utcnow
from storage.db import transaction
from web.json_api import ERROR_RESPONSES, ErrorBody, bounded_route
from web.rate_limits import RateLimits, client_address, rate_limit_response
from web.schemas import StrictBody

SESSION_COOKIE = "chatshop_staff"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

STAFF_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorBody, "description": "NOT_SIGNED_IN (no, expired or revoked session or token), "
                                             "BAD_CREDENTIALS (login)"},
    403: {"model": ErrorBody, "description": "FORBIDDEN (role or group), CSRF_REFUSED (cookie write without "
                                             "X-CSRF-Token)"},
    404: {"model": ErrorBody, "description": "CONVERSATION_NOT_FOUND (also one the caller may not see), "
                                             "UNKNOWN_CUSTOMER, STAFF_NOT_FOUND, CAMPAIGN_NOT_FOUND, NOT_FOUND "
                                             "(an order, product or SKU), FAQ_NOT_FOUND"},
    409: {"model": ErrorBody, "description": "REPLY_REFUSED (`wechat_errcode` 45015 with `window_closed_at`, or "
                                             "45047), NOT_YOUR_CONVERSATION, AGENT_UNAVAILABLE, ILLEGAL_TRANSITION, "
                                             "STAFF_EXISTS, CAMPAIGN_STATE (`state`, `to`), REFUND_REFUSED, "
                                             "KB_CHANGED (`version`: the file's now), KB_BROKEN"},
    422: {"model": ErrorBody, "description": "INVALID_INPUT (`field` names it), UNKNOWN_GROUP, INVALID_TAG, "
                                             "INVALID_TAG_EXPRESSION (`position`), INVALID_CAMPAIGN, "
                                             "UNKNOWN_TEMPLATE, INVALID_TEMPLATE_DATA (`field`, `rule`), "
                                             "INVALID_FAQ (`field`)"},
    429: {"model": ErrorBody, "description": "LOGIN_THROTTLED: too many failed logins; `retry_after` seconds"},
}


@dataclass(frozen=True)
class StaffApi:
    factory: sessionmaker[Session]
    config: StaffConfig
    max_body_bytes: int = 16384
    handoff: HandoffDesk | None = None  # the human side: conversations, assignment when agents come online
    live: LiveFeed | None = None  # wakes the console's event streams (None: they poll every second)
    campaigns: CampaignTools | None = None  # templates and campaign progress (None: campaign routes answer 503)
    backoffice: BackOffice | None = None  # orders, catalog, KB, rules and numbers (None: those routes answer 503)
    limits: RateLimits | None = None  # request rate limits on login (None: none)


class LoginIn(StrictBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class StatusIn(StrictBody):
    status: Status
    max_chats: int | None = Field(None, ge=1, description="omit to keep; at most staff.max_chats_limit")


class StaffOut(BaseModel):
    username: str
    display_name: str
    role: Role
    groups: list[str]
    status: Status
    max_chats: int


class StaffListItem(StaffOut):
    disabled: bool


class MeOut(StaffOut):
    csrf_token: str | None = Field(description="the token writes must send as X-CSRF-Token (cookie sessions only)")


class LoginOut(BaseModel):
    csrf_token: str = Field(description="send it as X-CSRF-Token with every write of this session")
    staff: StaffOut


class StaffAuth:
    """The FastAPI dependency that signs a request in; `requiring(...)` adds a role check."""

    def __init__(self, api: StaffApi) -> None:
        self.api = api

    def __call__(self, request: Request) -> Principal:
        now = utcnow()
        token = _bearer_token(request)
        with transaction(self.api.factory) as session:
            if token is not None:
                return check_token(session, token=token, now=now)
            session_id = request.cookies.get(SESSION_COOKIE)
            if not session_id:
                raise NotSignedIn("sign in first: POST /staff/api/login, or Authorization: Bearer <token>")
            principal, _ = check_session(session, config=self.api.config, session_id=session_id, now=now,
                                         csrf_token=request.headers.get(CSRF_HEADER),
                                         write=request.method not in SAFE_METHODS)
            return principal

    def signed_in(self) -> Any:
        """The parameter default of a route that needs any signed-in staff member."""
        return Depends(self)

    def requiring(self, *roles: Role) -> Any:
        """The parameter default of a route that needs one of `roles` (admins pass every check)."""
        signed_in = self.signed_in()

        def signed_in_with_role(principal: Principal = signed_in) -> Principal:
            return require(principal, *roles)

        return Depends(signed_in_with_role)


def build_staff_router(api: StaffApi) -> APIRouter:
    router = APIRouter(prefix="/staff/api", tags=["staff"], route_class=bounded_route(api.max_body_bytes),
                       responses=STAFF_ERROR_RESPONSES)
    auth = StaffAuth(api)
    _add_login_routes(router, api, auth)
    _add_me_routes(router, api, auth)
    _add_admin_routes(router, api, auth)
    add_conversation_routes(router, api, auth)
    add_customer_routes(router, api, auth)
    add_console_routes(router, api, auth)
    add_campaign_routes(router, api, auth)
    add_order_routes(router, api, auth)
    add_catalog_routes(router, api, auth)
    add_kb_routes(router, api, auth)
    add_rules_routes(router, api, auth)
    add_analytics_routes(router, api, auth)
    return router


def _add_login_routes(router: APIRouter, api: StaffApi, auth: StaffAuth) -> None:
    signed_in = auth.signed_in()

    @router.post("/login", response_model=LoginOut, summary="Sign in; sets the session cookie",
                 responses=rate_limit_response("RATE_LIMITED: too many login requests from this address or for "
                                               "this username (rate_limits.staff_login_*); LOGIN_THROTTLED: too "
                                               "many failed logins. `retry_after` seconds, also in Retry-After"))
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        now, address = utcnow(), client_address(request)
        if api.limits is not None:
            api.limits.check("staff_login", address=address, subject=body.username.strip().lower(),
                             subject_kind="username")
        refused: BadCredentials | None = None
        with transaction(api.factory) as session:
            try:
                member = authenticate(session, config=api.config, username=body.username, password=body.password,
                                      address=address, now=now)
            except BadCredentials as exc:
                refused = exc  # raised after the commit, so that the failure is counted
            else:
                opened = open_session(session, config=api.config, member=member, address=address, now=now)
                out = LoginOut(csrf_token=opened.csrf_token, staff=_staff_view(member))
        if refused is not None:
            raise refused
        response.set_cookie(SESSION_COOKIE, opened.session_id, max_age=api.config.session_max_age_s,
                            path="/", httponly=True, samesite="lax", secure=api.config.secure_cookie)
        return out

    @router.post("/logout", status_code=204, summary="End this session (the cookie's)")
    def logout(request: Request, principal: Principal = signed_in) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if principal.via == "session" and session_id:
            with transaction(api.factory) as session:
                close_session(session, session_id=session_id, now=utcnow())
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=api.config.secure_cookie)
        return response


def _add_me_routes(router: APIRouter, api: StaffApi, auth: StaffAuth) -> None:
    signed_in = auth.signed_in()

    @router.get("/me", response_model=MeOut, summary="Who I am")
    def me(request: Request, principal: Principal = signed_in) -> MeOut:
        with api.factory() as session:
            member = staff_by_id(session, staff_id=principal.staff_id)
            csrf = _session_csrf(session, request) if principal.via == "session" else None
            return MeOut(**_staff_view(member).model_dump(), csrf_token=csrf)

    @router.put("/me/status", response_model=StaffOut, summary="Go online, away or offline; set max chats")
    def put_status(body: StatusIn, principal: Principal = signed_in) -> StaffOut:
        with transaction(api.factory) as session:
            member = set_status(session, staff_id=principal.staff_id, config=api.config, status=body.status,
                                max_chats=body.max_chats)
            view = _staff_view(member)
        if api.handoff is not None:
            # After the commit: an agent coming online (or taking more chats) gets what waits at once.
            api.handoff.assign_waiting(view.groups)
        return view


def _add_admin_routes(router: APIRouter, api: StaffApi, auth: StaffAuth) -> None:
    admin = auth.requiring(Role.ADMIN)

    @router.get("/staff", response_model=list[StaffListItem], summary="Every staff account (admins)")
    def staff_list(principal: Principal = admin) -> list[StaffListItem]:
        with api.factory() as session:
            return [StaffListItem(**_staff_view(m).model_dump(), disabled=m.disabled) for m in list_staff(session)]


def _session_csrf(session: Session, request: Request) -> str | None:
    row = session.get(StaffSession, secret_digest(request.cookies.get(SESSION_COOKIE, "")))
    return row.csrf_token if row else None


def _staff_view(member: StaffMember) -> StaffOut:
    return StaffOut(username=member.username, display_name=member.display_name, role=Role(member.role),
                    groups=list(member.skill_groups), status=Status(member.status), max_chats=member.max_chats)


def _bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None

