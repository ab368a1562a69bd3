"""POST /pay/notify and POST /pay/refund-notify: WeChat Pay's signed, encrypted notifications.

WeChat's servers call these as they call the message webhook beside them (`bot.webhook`). The raw
body is read with a size limit, verified and decrypted (`wechat.pay_notify`), then applied once by
the commerce core. WeChat Pay's contract: 200/204 with no body means "received,
stop retrying"; anything else is retried on its schedule (15 s ... 6 h) and answered with
{"code": "FAIL", "message": ...}.

- Forged (signature, key serial, AEAD tag) → 401; stale or malformed → 400. Nothing is applied.
- Applied, a duplicate, or a notice that does not match its order (wrong amount, appid, mchid) →
  204. A mismatch leaves the order unpaid and records an alert in the same transaction; retrying
  would deliver the same signed bytes again and change nothing, so we acknowledge it once and
  leave the decision (refund, reconcile) to staff rather than have WeChat Pay resend it for a day.
- Anything unexpected (database down) → 500, so WeChat Pay retries and nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.metrics import PAY_NOTIFICATIONS
from web.bodies import BodyOverLimit, read_limited
from wechat.errors import NotificationRefusal, NotificationRefused

log = logging.getLogger(__name__)


class Verifier(Protocol):
    """wechat.pay_notify.NotificationVerifier, as these endpoints use it."""

    def payment(self, headers: Mapping[str, str], body: bytes) -> Any: ...

    def refund(self, headers: Mapping[str, str], body: bytes) -> Any: ...


# Applies one verified notice in its own transaction and names the outcome for logs and metrics
# ("applied", "duplicate", "mismatch", ...). Raising means "not received": WeChat Pay retries.
ApplyNotice = Callable[[Any], str]


@dataclass(frozen=True)
class PayNotifyEndpoints:
    verifier: Verifier
    apply_payment: ApplyNotice
    apply_refund: ApplyNotice
    max_body_bytes: int = 65536


def fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": "FAIL", "message": message}, status_code=status)


def build_pay_router(endpoints: PayNotifyEndpoints) -> APIRouter:
    router = APIRouter(prefix="/pay", tags=["wechat-pay"])

    @router.post("/notify", status_code=204, summary="WeChat Pay payment result notification")
    async def payment_notify(request: Request) -> Response:
        return await _receive(request, "payment", endpoints.verifier.payment, endpoints.apply_payment, endpoints)

    @router.post("/refund-notify", status_code=204, summary="WeChat Pay refund result notification")
    async def refund_notify(request: Request) -> Response:
        return await _receive(request, "refund", endpoints.verifier.refund, endpoints.apply_refund, endpoints)

    return router


async def _receive(
    request: Request,
    kind: str,
    open_notice: Callable[[Mapping[str, str], bytes], Any],
    apply: ApplyNotice,
    endpoints: PayNotifyEndpoints,
) -> Response:
    try:
        body = await read_limited(request, endpoints.max_body_bytes)
        outcome = await run_in_threadpool(_verify_and_apply, open_notice, apply, dict(request.headers), body)
    except BodyOverLimit as exc:
        return _refused(kind, "too_large", 413, f"request body over {exc.limit} bytes")
    except NotificationRefused as exc:
        # A forgery is "who are you" (401); a stale or malformed one is a bad request (400).
        status = 401 if exc.refusal is NotificationRefusal.FORGED else 400
        return _refused(kind, exc.code.lower(), status, str(exc))
    except Exception:
        log.exception("%s notification could not be applied; WeChat Pay will retry", kind)
        PAY_NOTIFICATIONS.labels(kind=kind, outcome="error").inc()
        return fail(500, "temporarily unable to process the notification")
    PAY_NOTIFICATIONS.labels(kind=kind, outcome=outcome).inc()
    return Response(status_code=204)


def _verify_and_apply(
    open_notice: Callable[[Mapping[str, str], bytes], Any], apply: ApplyNotice, headers: Mapping[str, str], body: bytes
) -> str:
    notice = open_notice(headers, body)
    return apply(notice)


def _refused(kind: str, reason: str, status: int, message: str) -> JSONResponse:
    log.warning("%s notification refused (%s): %s", kind, reason, message)
    PAY_NOTIFICATIONS.labels(kind=kind, outcome=reason).inc()
    return fail(status, message)
