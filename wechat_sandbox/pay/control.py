"""Control endpoints for the sandbox's WeChat Pay, under /control/pay/.

The simulated customer pays; WeChat Pay's back office settles refunds; tests read every
notification try, deliver what the moved clock made due, and inject faults.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from .errors import ControlRefused
from .state import Fault, PayState

PayApi = Literal["jsapi", "query", "close", "refund", "query_refund"]


class FaultBody(BaseModel):
    api: PayApi
    times: int = Field(default=1, ge=1)
    status: int = Field(default=500, ge=400, le=599)
    code: str = "SYSTEM_ERROR"
    message: str = "系统错误"
    bad_signature: bool = False  # answer 200 signed with a key that is not the platform's


class SettleBody(BaseModel):
    status: Literal["SUCCESS", "ABNORMAL", "CLOSED"] = "SUCCESS"


class PaySettingsBody(BaseModel):
    refunds_settle: bool  # False: refunds stay PROCESSING until /refunds/{no}/settle


def _refused(exc: ControlRefused) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def build_pay_control_router(pay: PayState) -> APIRouter:
    router = APIRouter(prefix="/control/pay")

    @router.post("/{out_trade_no}/pay")
    def customer_pays(out_trade_no: str) -> Response:
        """The customer pays: the order becomes SUCCESS and the notification's first try is made now."""
        try:
            transaction = pay.customer_pays(out_trade_no)
        except ControlRefused as exc:
            return _refused(exc)
        pay.notifier.deliver_due()
        notifications = pay.notifier.records(out_trade_no=out_trade_no)
        return JSONResponse({"transaction": transaction.as_dict(), "notifications": notifications})

    @router.get("/transactions")
    def transactions(
        openid: str | None = Query(None), limit: int = Query(20, ge=1, le=200)
    ) -> list[dict[str, Any]]:
        """The newest orders first; with ?openid= only that customer's (the page's 支付 panel)."""
        return pay.transaction_views(openid, limit)

    @router.get("/transactions/{out_trade_no}")
    def transaction(out_trade_no: str) -> Response:
        try:
            return JSONResponse(pay.transaction_view(out_trade_no))
        except ControlRefused as exc:
            return _refused(exc)

    @router.post("/refunds/{out_refund_no}/settle")
    def settle_refund(out_refund_no: str, body: SettleBody) -> Response:
        try:
            refund = pay.settle_refund(out_refund_no, body.status)
        except ControlRefused as exc:
            return _refused(exc)
        pay.notifier.deliver_due()
        notifications = pay.notifier.records(out_refund_no=out_refund_no)
        return JSONResponse({"refund": refund.as_dict(), "notifications": notifications})

    @router.get("/notifications")
    def notifications(
        out_trade_no: str | None = Query(None), out_refund_no: str | None = Query(None)
    ) -> list[dict[str, Any]]:
        return pay.notifier.records(out_trade_no=out_trade_no, out_refund_no=out_refund_no)

    @router.post("/deliver")
    def deliver() -> dict[str, Any]:
        """Make every try the (moved) clock has made due, and wait for tries in flight."""
        return {"tries": pay.notifier.deliver_due()}

    @router.post("/faults")
    def faults(body: FaultBody) -> dict[str, Any]:
        pay.add_fault(Fault(body.api, body.times, body.status, body.code, body.message, body.bad_signature))
        return {"ok": True}

    @router.post("/settings")
    def settings(body: PaySettingsBody) -> dict[str, Any]:
        with pay.lock:
            pay.refunds_settle = body.refunds_settle
        return {"ok": True, "refunds_settle": pay.refunds_settle}

    @router.post("/reset")
    def reset() -> dict[str, Any]:
        pay.reset()
        return {"ok": True}

    return router
