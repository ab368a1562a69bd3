"""Control endpoints under /control/: what tests and the page use to steer the sandbox."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from .config import SandboxAccount
from .push import verify_url
from .state import Action, SandboxState, iso_utc


class ConsentBody(BaseModel):
    account: str
    openid: str
    template_id: str
    count: int = Field(default=1, ge=1)


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
