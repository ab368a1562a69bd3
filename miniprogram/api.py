"""The mini-program's JSON API under /mp/: login, catalog, cart, checkout, orders.

Handlers parse, call one domain operation in one transaction, and serialize; refusals are mapped
to responses by the route class (`miniprogram.http_errors`). Handlers are plain functions: FastAPI
runs them on its thread pool, so the blocking database and WeChat calls never stall the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, status
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from commerce.db import transaction, utcnow
from miniprogram.auth import Credentials, bearer_token, openid_dependency
from miniprogram.config import MpApiConfig
from miniprogram.http_errors import ERROR_RESPONSES, bounded_route
from miniprogram.metrics import LOGINS
from miniprogram.schemas import LoginRequest, LoginResponse, Me
from miniprogram.sessions import CodeExchange, open_session, revoke_token


@dataclass(frozen=True)
class MpApi:
    """What the API needs, built by the composition root."""

    factory: sessionmaker[Session]
    exchange_code: CodeExchange  # jscode2session
    config: MpApiConfig = field(default_factory=MpApiConfig)
    clock: Callable[[], datetime] = field(default=utcnow)


def build_mp_router(api: MpApi) -> APIRouter:
    router = APIRouter(
        prefix="/mp", tags=["mini-program"], route_class=bounded_route(api.config.max_body_bytes),
        responses=ERROR_RESPONSES,
    )
    _add_session_routes(router, api)
    return router


def _add_session_routes(router: APIRouter, api: MpApi) -> None:
    # A default, not an Annotated alias: annotations here are strings FastAPI resolves at module level.
    current_openid = Depends(openid_dependency(api.factory, api.clock))

    @router.post("/login", response_model=LoginResponse, summary="Exchange a wx.login() code for a token")
    def login(body: LoginRequest) -> LoginResponse:
        try:
            wechat = api.exchange_code(body.code)
        except Exception:
            LOGINS.labels(result="refused").inc()
            raise
        now = api.clock()
        with transaction(api.factory) as session:
            token = open_session(session, login=wechat, ttl_s=api.config.session_ttl_s, now=now)
        LOGINS.labels(result="ok").inc()
        expires_at = now + timedelta(seconds=api.config.session_ttl_s)
        return LoginResponse(token=token, openid=wechat.openid, expires_at=expires_at)

    @router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this token")
    def logout(credentials: Credentials, _: str = current_openid) -> Response:
        with transaction(api.factory) as session:
            revoke_token(session, token=bearer_token(credentials), now=api.clock())
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/me", response_model=Me, summary="Who this token speaks for")
    def me(openid: str = current_openid) -> Me:
        return Me(openid=openid)
