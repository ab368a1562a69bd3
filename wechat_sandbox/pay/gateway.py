"""The WeChat Pay API v3 double under /pay/ (the client's base URL when the sandbox is on).

One dispatcher per call: verify the merchant's Authorization, apply an injected fault, parse the
body, run the operation, answer WeChat Pay's JSON signed with the platform key, record the call.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..state import SandboxState
from .errors import PayFail, param_error
from .signing import (
    AuthorizationError,
    MerchantAuth,
    PlatformSigner,
    load_public_key,
    new_rsa_key_pem,
    verify_authorization,
)
from .state import PayState

PREFIX = "/pay"
JSON_TYPE = "application/json; charset=utf-8"

Operation = Callable[[MerchantAuth, "PayCall"], tuple[int, dict[str, Any] | None]]


@dataclass
class PayCall:
    method: str
    api: str
    url: str  # as the merchant signed it: path below the gateway plus the query
    query: dict[str, str]
    path_params: dict[str, str]
    raw: bytes
    authorization: str
    parsed: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        if not self.raw.strip():
            raise param_error("请求体为空")
        try:
            body = json.loads(self.raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise param_error("请求体不是合法的JSON") from None
        if not isinstance(body, dict):
            raise param_error("请求体应为JSON对象")
        self.parsed = body
        return body


def signed_url(scope: Mapping[str, Any]) -> str:
    """The URL the merchant signed: the path below the gateway, as sent, plus the query string."""
    path = (scope.get("raw_path") or scope["path"].encode("utf-8")).decode("latin-1")
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    path = path.removeprefix(PREFIX)
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


class Gateway:
    def __init__(self, pay: PayState, sandbox: SandboxState) -> None:
        self.pay = pay
        self.sandbox = sandbox
        config = pay.config
        self.signer = PlatformSigner(config.platform_private_key, config.platform_public_key_id)
        self.merchant_key = load_public_key(config.merchant_public_key)

    @functools.cached_property
    def impostor(self) -> PlatformSigner:
        """Signs the answers of the bad_signature fault: valid RSA, wrong key (made when first needed)."""
        return PlatformSigner(new_rsa_key_pem()[0], self.pay.config.platform_public_key_id)

    def dispatch(self, call: PayCall, operation: Operation) -> Response:
        signer = self.signer
        status: int
        body: dict[str, Any] | None
        try:
            auth = self._authenticate(call)
            fault = self.pay.take_fault(call.api)
            if fault is not None and fault.bad_signature:
                signer, status, body = self.impostor, 200, {}
            elif fault is not None:
                raise PayFail(fault.status, fault.code, fault.message)
            else:
                status, body = operation(auth, call)
        except PayFail as exc:
            status, body = exc.status, exc.body()
        self._record(call, status, body)
        return self._answer(signer, status, body)

    def _authenticate(self, call: PayCall) -> MerchantAuth:
        config = self.pay.config
        if not call.authorization:
            raise PayFail(401, "SIGN_ERROR", "缺少 Authorization 请求头")
        try:
            auth = verify_authorization(
                call.authorization, method=call.method, url=call.url, body=call.raw,
                merchant_public_key=self.merchant_key,
            )
        except AuthorizationError as exc:
            raise PayFail(401, "SIGN_ERROR", f"签名错误：{exc}") from None
        if auth.mchid != config.mchid:
            raise PayFail(400, "MCH_NOT_EXISTS", "商户号不存在")
        if auth.serial_no != config.merchant_cert_serial_no:
            raise PayFail(401, "SIGN_ERROR", "商户证书序列号有误。请使用签名私钥匹配的证书序列号")
        # The merchant's clock is the real one; the sandbox Clock's offset only simulates waiting.
        if abs(time.time() - auth.timestamp) > config.max_auth_skew_s:
            raise PayFail(401, "SIGN_ERROR", "请求的时间戳与当前时间相差过大")
        return auth

    def _answer(self, signer: PlatformSigner, status: int, body: dict[str, Any] | None) -> Response:
        content = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = signer.headers(content) | {"Request-ID": secrets.token_hex(16)}
        if body is None:
            return Response(status_code=status, headers=headers)
        return Response(content=content, status_code=status, headers=headers, media_type=JSON_TYPE)

    def _record(self, call: PayCall, status: int, body: dict[str, Any] | None) -> None:
        sent = call.parsed
        appid = sent.get("appid") if isinstance(sent, dict) else None
        self.sandbox.record_call(
            {
                "api": f"pay/{call.api}",
                "method": call.method,
                "account": appid if isinstance(appid, str) else None,
                "query": call.query,
                "body": sent,
                "status": status,
                "errcode": 0 if status < 300 else (body or {}).get("code"),
                "response": body,
            }
        )


# ----- the operations -----------------------------------------------------------------------


def prepay(pay: PayState) -> Operation:
    return lambda auth, call: (200, pay.prepay(auth.mchid, call.json()))


def query(pay: PayState) -> Operation:
    return lambda auth, call: (200, pay.query(auth.mchid, call.path_params["no"], call.query.get("mchid")))


def close(pay: PayState) -> Operation:
    def run(auth: MerchantAuth, call: PayCall) -> tuple[int, dict[str, Any] | None]:
        pay.close(auth.mchid, call.path_params["no"], call.json())
        return 204, None

    return run


def refund(pay: PayState) -> Operation:
    return lambda auth, call: (200, pay.refund(auth.mchid, call.json()))


def query_refund(pay: PayState) -> Operation:
    return lambda auth, call: (200, pay.query_refund(call.path_params["no"]))


def not_found(pay: PayState) -> Operation:
    def run(auth: MerchantAuth, call: PayCall) -> tuple[int, dict[str, Any] | None]:
        raise PayFail(404, "RESOURCE_NOT_EXISTS", f"no such API: {call.method} {call.url}")

    return run


def build_gateway_router(pay: PayState, sandbox: SandboxState) -> APIRouter:
    gateway = Gateway(pay, sandbox)
    router = APIRouter(prefix=PREFIX)

    def route(method: str, path: str, api: str, make: Callable[[PayState], Operation]) -> None:
        operation = make(pay)

        async def endpoint(request: Request) -> Response:
            call = PayCall(
                method=request.method,
                api=api,
                url=signed_url(request.scope),
                query=dict(request.query_params),
                path_params={k: str(v) for k, v in request.path_params.items()},
                raw=await request.body(),
                authorization=request.headers.get("authorization", ""),
            )
            # RSA work and the state's lock: off the event loop.
            return await run_in_threadpool(gateway.dispatch, call, operation)

        router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)

    route("POST", "/v3/pay/transactions/jsapi", "jsapi", prepay)
    route("GET", "/v3/pay/transactions/out-trade-no/{no}", "query", query)
    route("POST", "/v3/pay/transactions/out-trade-no/{no}/close", "close", close)
    route("POST", "/v3/refund/domestic/refunds", "refund", refund)
    route("GET", "/v3/refund/domestic/refunds/{no}", "query_refund", query_refund)
    for method in ("GET", "POST"):
        route(method, "/{rest:path}", "unknown", not_found)
    return router
