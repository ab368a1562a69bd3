"""WeChat Pay API v3 client (JSAPI / mini-program): prepay, pay params, query, close, refund.

Built on wechatpayv3, constructed with the platform public key and its id so that it never
downloads platform certificates, and so that every 2xx answer's Wechatpay-Signature is verified
(the library refuses an unsigned or badly signed answer; we surface that as UnverifiedResponse).
Requests are checked against WeChat Pay's documented rules before they leave, so a bad order number
or amount is refused here with InvalidPayRequest rather than by WeChat Pay.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import requests
from wechatpayv3 import WeChatPay as _LibraryClient
from wechatpayv3 import WeChatPayType

from .errors import InvalidPayRequest, PayApiError, PayUnavailable, UnverifiedResponse

log = logging.getLogger(__name__)

PRODUCTION_PAY_BASE_URL = "https://api.mch.weixin.qq.com/"
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
MAX_DESCRIPTION_BYTES = 127
MAX_REFUND_REASON_CHARS = 80
# WeChat Pay documents its times in Beijing time (rfc3339 with +08:00); we send them that way.
BEIJING = timezone(timedelta(hours=8))


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"  # paid
    REFUND = "REFUND"  # paid, then (partly) refunded
    NOTPAY = "NOTPAY"  # prepaid, not paid yet
    CLOSED = "CLOSED"  # closed by the merchant (or expired and closed)
    REVOKED = "REVOKED"  # payment-code orders only
    USERPAYING = "USERPAYING"  # the customer is entering the password
    PAYERROR = "PAYERROR"  # the payment failed (e.g. the bank refused)


class RefundState(StrEnum):
    SUCCESS = "SUCCESS"  # money returned
    CLOSED = "CLOSED"  # closed by WeChat Pay
    PROCESSING = "PROCESSING"  # accepted, not done yet
    ABNORMAL = "ABNORMAL"  # failed (e.g. the customer's card is gone); needs a manual step


@dataclass(frozen=True)
class PayConfig:
    """One direct merchant (直连商户). Keys are PEM text; the chatshop wiring reads them from files."""

    mchid: str
    appid: str
    apiv3_key: str = field(repr=False)
    merchant_private_key: str = field(repr=False)
    merchant_cert_serial_no: str
    platform_public_key: str
    platform_public_key_id: str
    api_base_url: str = PRODUCTION_PAY_BASE_URL
    notify_url: str = ""
    refund_notify_url: str = ""
    timeout_s: float = 10.0


@dataclass(frozen=True)
class PayTransaction:
    """What WeChat Pay knows about one order (the query answer)."""

    appid: str
    mchid: str
    out_trade_no: str
    trade_state: str  # a TradeState value (kept as str: WeChat Pay may add states)
    trade_state_desc: str
    transaction_id: str | None
    amount_total: int | None  # fen
    payer_openid: str | None
    success_time: datetime | None  # UTC

    @property
    def paid(self) -> bool:
        return self.trade_state in (TradeState.SUCCESS, TradeState.REFUND)


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: str  # a RefundState value
    amount_refund: int  # fen
    amount_total: int  # fen
    success_time: datetime | None  # UTC


def parse_time(value: Any) -> datetime | None:
    """An rfc3339 time from WeChat Pay (any offset) as aware UTC; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidPayRequest("time_expire must be timezone-aware")
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def check_out_trade_no(out_trade_no: str) -> None:
    if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.match(out_trade_no):
        raise InvalidPayRequest(f"out_trade_no must be 6-32 of [0-9A-Za-z_-|*], got {out_trade_no!r}")


def check_out_refund_no(out_refund_no: str) -> None:
    if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.match(out_refund_no):
        raise InvalidPayRequest(f"out_refund_no must be 1-64 of [0-9A-Za-z_-|*@], got {out_refund_no!r}")


def check_fen(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidPayRequest(f"{name} must be a positive whole number of fen, got {value!r}")


def _check_prepay(description: str, payer_openid: str) -> None:
    if not description.strip():
        raise InvalidPayRequest("description must not be empty")
    if len(description.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        raise InvalidPayRequest(f"description is longer than {MAX_DESCRIPTION_BYTES} bytes")
    if not payer_openid:
        raise InvalidPayRequest("payer_openid must not be empty")


class WeChatPay:
    """The merchant's client. Thread-safe: every call is one independent HTTPS request."""

    def __init__(self, config: PayConfig) -> None:
        self.config = config
        self._api = _LibraryClient(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=config.mchid,
            private_key=config.merchant_private_key,
            cert_serial_no=config.merchant_cert_serial_no,
            appid=config.appid,
            apiv3_key=config.apiv3_key,
            notify_url=config.notify_url or None,
            timeout=config.timeout_s,
            public_key=config.platform_public_key,
            public_key_id=config.platform_public_key_id,
        )
        # wechatpayv3 has no base-URL argument; its gateway is this private field. Setting it here,
        # in one place, is what lets the sandbox (or a proxy) stand in for api.mch.weixin.qq.com.
        self._api._core._gate_way = config.api_base_url.rstrip("/")

    # ----- payments ---------------------------------------------------------------------

    def prepay_jsapi(
        self, *, out_trade_no: str, description: str, amount_fen: int, payer_openid: str, time_expire: datetime
    ) -> str:
        """Create (or, with the same parameters, find again) the WeChat Pay order; returns prepay_id."""
        check_out_trade_no(out_trade_no)
        check_fen("amount_fen", amount_fen)
        _check_prepay(description, payer_openid)
        if not self.config.notify_url:
            raise InvalidPayRequest("pay notify_url is not configured")
        expire = format_time(time_expire)
        body = self._call(
            "prepay",
            lambda: self._api.pay(
                description=description,
                out_trade_no=out_trade_no,
                amount={"total": amount_fen, "currency": "CNY"},
                payer={"openid": payer_openid},
                time_expire=expire,
                pay_type=WeChatPayType.MINIPROG,
            ),
        )
        prepay_id = body.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise UnverifiedResponse("prepay answer holds no prepay_id")
        log.info("prepay %s: %s fen", out_trade_no, amount_fen)
        return prepay_id

    def pay_params(self, prepay_id: str) -> dict[str, str]:
        """What the mini-program passes to wx.requestPayment, signed with the merchant key."""
        if not prepay_id:
            raise InvalidPayRequest("prepay_id must not be empty")
        params = {
            "appId": self.config.appid,
            "timeStamp": str(int(time.time())),
            "nonceStr": secrets.token_hex(16),
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
        }
        # RSA-SHA256 over "appId\ntimeStamp\nnonceStr\npackage\n", base64.
        signed = [params["appId"], params["timeStamp"], params["nonceStr"], params["package"]]
        params["paySign"] = str(self._api.sign(signed))
        # appId stays in: WeixinJSBridge needs it, wx.requestPayment ignores it, and it was signed.
        return params

    def query(self, out_trade_no: str) -> PayTransaction:
        check_out_trade_no(out_trade_no)
        body = self._call("query", lambda: self._api.query(out_trade_no=quote(out_trade_no, safe="")))
        return _transaction_from(body, out_trade_no)

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order so it can no longer be paid (WeChat Pay answers 204)."""
        check_out_trade_no(out_trade_no)
        self._call("close", lambda: self._api.close(out_trade_no=quote(out_trade_no, safe="")))
        log.info("closed %s", out_trade_no)

    # ----- refunds ----------------------------------------------------------------------

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, reason: str
    ) -> RefundResult:
        """Ask for a refund; the same out_refund_no with the same parameters refunds only once."""
        check_out_trade_no(out_trade_no)
        check_out_refund_no(out_refund_no)
        check_fen("refund_fen", refund_fen)
        check_fen("total_fen", total_fen)
        if refund_fen > total_fen:
            raise InvalidPayRequest(f"refund_fen {refund_fen} is more than total_fen {total_fen}")
        if len(reason) > MAX_REFUND_REASON_CHARS:
            raise InvalidPayRequest(f"reason is longer than {MAX_REFUND_REASON_CHARS} characters")
        body = self._call(
            "refund",
            lambda: self._api.refund(
                out_refund_no=out_refund_no,
                amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
                out_trade_no=out_trade_no,
                reason=reason or None,
                notify_url=self.config.refund_notify_url or None,
            ),
        )
        log.info("refund %s of %s: %s fen", out_refund_no, out_trade_no, refund_fen)
        return _refund_from(body)

    def query_refund(self, out_refund_no: str) -> RefundResult:
        check_out_refund_no(out_refund_no)
        body = self._call("query_refund", lambda: self._api.query_refund(out_refund_no=quote(out_refund_no, safe="")))
        return _refund_from(body)

    # ----- transport --------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], tuple[int, Any]]) -> dict[str, Any]:
        try:
            status, content = call()
        except requests.RequestException as exc:
            log.warning("WeChat Pay %s: no answer (%s)", what, exc.__class__.__name__)
            raise PayUnavailable(f"{what}: {exc.__class__.__name__}: {exc}") from exc
        except Exception as exc:
            # wechatpayv3 raises a bare Exception when a 2xx answer's signature does not verify.
            log.error("WeChat Pay %s: answer refused (%s)", what, exc)
            raise UnverifiedResponse(f"{what}: {exc}") from exc
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or "")
        if 200 <= status < 300:
            return _json_object(text) if text.strip() else {}
        error = _api_error(status, text)
        log.warning("WeChat Pay %s: HTTP %s %s", what, status, error.details().get("pay_code", error.code))
        raise error


def _json_object(text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise UnverifiedResponse("a 2xx answer that is not JSON") from exc
    if not isinstance(body, dict):
        raise UnverifiedResponse("a 2xx answer that is not a JSON object")
    return body


def _api_error(status: int, text: str) -> PayApiError | PayUnavailable:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return PayApiError(status, body["code"], str(body.get("message", "")))
    if status >= 500 or status in (408, 429):
        # A proxy's or load balancer's page, not WeChat Pay's answer: the outcome is unknown.
        return PayUnavailable(f"HTTP {status} without WeChat Pay's error body")
    return PayApiError(status, f"HTTP_{status}", text[:200])


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _transaction_from(body: dict[str, Any], out_trade_no: str) -> PayTransaction:
    amount, payer = _object(body, "amount"), _object(body, "payer")
    trade_state = body.get("trade_state")
    if not isinstance(trade_state, str) or body.get("out_trade_no", out_trade_no) != out_trade_no:
        raise UnverifiedResponse("query answer without trade_state or for another order")
    return PayTransaction(
        appid=str(body.get("appid", "")),
        mchid=str(body.get("mchid", "")),
        out_trade_no=out_trade_no,
        trade_state=trade_state,
        trade_state_desc=str(body.get("trade_state_desc", "")),
        transaction_id=body.get("transaction_id") or None,
        amount_total=_int_or_none(amount.get("total")),
        payer_openid=payer.get("openid") or None,
        success_time=parse_time(body.get("success_time")),
    )


def _refund_from(body: dict[str, Any]) -> RefundResult:
    amount = _object(body, "amount")
    refund, total = _int_or_none(amount.get("refund")), _int_or_none(amount.get("total"))
    status = body.get("status")
    if not isinstance(status, str) or refund is None or total is None or not body.get("refund_id"):
        raise UnverifiedResponse("refund answer without status, refund_id or amounts")
    return RefundResult(
        out_refund_no=str(body.get("out_refund_no", "")),
        refund_id=str(body["refund_id"]),
        out_trade_no=str(body.get("out_trade_no", "")),
        transaction_id=str(body.get("transaction_id", "")),
        status=status,
        amount_refund=refund,
        amount_total=total,
        success_time=parse_time(body.get("success_time")),
    )
