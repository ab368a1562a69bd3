"""What the sandbox's WeChat Pay remembers: orders (transactions), refunds, injected faults.

Validation follows WeChat Pay's documented rules and answers with its codes; every public method
takes the lock. Notifications are handed to the Notifier, which delivers them off this lock.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from .config import SandboxPayConfig
from .errors import ControlRefused, PayFail, invalid_request, param_error
from .notifier import Notifier

OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
BEIJING = timezone(timedelta(hours=8))
MAX_DESCRIPTION_BYTES = 127
MAX_NOTIFY_URL = 255
MAX_REFUND_REASON = 80
_serial = itertools.count(1)


def beijing_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).isoformat(timespec="seconds")


def _new_number(prefix: str, width: int) -> str:
    # Unique within the process; shaped like WeChat Pay's numeric ids.
    return f"{prefix}{next(_serial):0{width - len(prefix) - 10}d}{secrets.randbelow(10**10):010d}"


@dataclass
class Transaction:
    appid: str
    mchid: str
    out_trade_no: str
    description: str
    amount_total: int
    payer_openid: str
    notify_url: str
    time_expire: float | None
    request: dict[str, Any]  # the prepay body, to tell a repeat from a conflicting reuse
    prepay_id: str
    created_at: float
    trade_state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: float | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": self.trade_state,
            "trade_state_desc": TRADE_STATE_DESC[self.trade_state],
            "attach": "",
            "amount": {"total": self.amount_total, "currency": "CNY"},
        }
        if self.transaction_id:
            body["transaction_id"] = self.transaction_id
            body["bank_type"] = "OTHERS"
            body["payer"] = {"openid": self.payer_openid}
            body["amount"] |= {"payer_total": self.amount_total, "payer_currency": "CNY"}
        if self.success_time is not None:
            body["success_time"] = beijing_time(self.success_time)
        return body


TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "订单已关闭",
    "PAYERROR": "支付失败",
}


@dataclass
class Refund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    amount_refund: int
    amount_total: int
    reason: str
    notify_url: str | None
    request: dict[str, Any]
    created_at: float
    status: str = "PROCESSING"
    success_time: float | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": beijing_time(self.created_at),
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.amount_total,
                "refund": self.amount_refund,
                "payer_total": self.amount_total,
                "payer_refund": self.amount_refund,
                "settlement_refund": self.amount_refund,
                "settlement_total": self.amount_total,
                "discount_refund": 0,
                "currency": "CNY",
            },
        }
        if self.success_time is not None:
            body["success_time"] = beijing_time(self.success_time)
        return body


@dataclass
class Fault:
    api: str  # jsapi, query, close, refund, query_refund
    remaining: int
    status: int
    code: str
    message: str
    bad_signature: bool  # answer 200 signed with a key that is not the platform's


@dataclass
class PayState:
    config: SandboxPayConfig
    clock: Callable[[], float]
    notifier: Notifier
    on_paid: Callable[[str, str], None] = lambda appid, openid: None  # opens the customer's window
    lock: threading.RLock = field(default_factory=threading.RLock)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    refunds_settle: bool = True

    def __post_init__(self) -> None:
        self.refunds_settle = self.config.refunds_settle

    def reset(self) -> None:
        with self.lock:
            self.transactions.clear()
            self.refunds.clear()
            self.faults.clear()
            self.refunds_settle = self.config.refunds_settle
            self.notifier.reset()

    # ----- faults ---------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, api: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.api == api:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    # ----- the merchant's API ---------------------------------------------------------------

    def prepay(self, mchid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._check_merchant(mchid, body.get("mchid"))
            self._check_appid(body.get("appid"))
            out_trade_no = _out_trade_no(body.get("out_trade_no"))
            existing = self.transactions.get(out_trade_no)
            if existing is not None:
                return {"prepay_id": self._repeat_prepay(existing, body)}
            transaction = Transaction(
                appid=body["appid"],
                mchid=mchid,
                out_trade_no=out_trade_no,
                description=_description(body.get("description")),
                amount_total=_total(body.get("amount")),
                payer_openid=_payer_openid(body.get("payer")),
                notify_url=_notify_url(body.get("notify_url"), required=True) or "",
                time_expire=_time_expire(body.get("time_expire")),
                request=_canonical(body),
                prepay_id="wx" + datetime.now(UTC).strftime("%d%H%M%S") + secrets.token_hex(12),
                created_at=self.clock(),
            )
            self.transactions[out_trade_no] = transaction
            return {"prepay_id": transaction.prepay_id}

    def _repeat_prepay(self, existing: Transaction, body: dict[str, Any]) -> str:
        if existing.trade_state in ("SUCCESS", "REFUND"):
            raise PayFail(400, "ORDERPAID", "该订单已支付")
        if existing.trade_state == "CLOSED":
            raise PayFail(400, "ORDER_CLOSED", "订单已关闭")
        if existing.request != _canonical(body):
            raise invalid_request("201 商户订单号重复")
        return existing.prepay_id

    def query(self, mchid: str, out_trade_no: str, query_mchid: str | None) -> dict[str, Any]:
        with self.lock:
            if not query_mchid:
                raise param_error("缺少参数 mchid")
            self._check_merchant(mchid, query_mchid)
            return self._transaction(out_trade_no).as_dict()

    def close(self, mchid: str, out_trade_no: str, body: dict[str, Any]) -> None:
        with self.lock:
            self._check_merchant(mchid, body.get("mchid"))
            transaction = self._transaction(out_trade_no)
            if transaction.trade_state in ("SUCCESS", "REFUND"):
                raise PayFail(400, "ORDERPAID", "订单已支付")
            transaction.trade_state = "CLOSED"

    def refund(self, mchid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            out_refund_no = body.get("out_refund_no")
            if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.match(out_refund_no):
                raise param_error("out_refund_no 格式不正确")
            transaction = self._refundable(body)
            existing = self.refunds.get(out_refund_no)
            if existing is not None:
                if existing.request != _canonical(body):
                    raise invalid_request("退款单号重复，且请求参数与之前不一致")
                return existing.as_dict()
            refund = self._new_refund(transaction, out_refund_no, body)
            self.refunds[out_refund_no] = refund
            transaction.trade_state = "REFUND"
            answer = refund.as_dict()  # WeChat Pay answers PROCESSING; the result comes by notification
            if self.refunds_settle:
                self._settle(refund, "SUCCESS")
            return answer

    def _refundable(self, body: dict[str, Any]) -> Transaction:
        out_trade_no, transaction_id = body.get("out_trade_no"), body.get("transaction_id")
        found: Transaction | None = None
        if isinstance(transaction_id, str) and transaction_id:
            found = next((t for t in self.transactions.values() if t.transaction_id == transaction_id), None)
        elif isinstance(out_trade_no, str) and out_trade_no:
            found = self.transactions.get(out_trade_no)
        else:
            raise param_error("out_trade_no 与 transaction_id 必须填写一个")
        if found is None:
            raise PayFail(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if found.trade_state not in ("SUCCESS", "REFUND"):
            raise invalid_request("订单未支付，不能退款")
        return found

    def _new_refund(self, transaction: Transaction, out_refund_no: str, body: dict[str, Any]) -> Refund:
        amount = body.get("amount")
        if not isinstance(amount, dict):
            raise param_error("缺少参数 amount")
        refund_fen, total_fen = _positive_int(amount.get("refund"), "amount.refund"), amount.get("total")
        if amount.get("currency", "CNY") != "CNY":
            raise param_error("amount.currency 只支持 CNY")
        if total_fen != transaction.amount_total:
            raise invalid_request("amount.total 与订单金额不一致")
        reason = body.get("reason") or ""
        if not isinstance(reason, str) or len(reason) > MAX_REFUND_REASON:
            raise param_error("reason 超过 80 个字符")
        if refund_fen > transaction.amount_total - self._refunded(transaction.out_trade_no):
            raise invalid_request("申请退款金额超过订单可退金额")
        assert transaction.transaction_id is not None  # paid orders always have one
        return Refund(
            out_refund_no=out_refund_no,
            refund_id=_new_number("50", 29),
            out_trade_no=transaction.out_trade_no,
            transaction_id=transaction.transaction_id,
            amount_refund=refund_fen,
            amount_total=transaction.amount_total,
            reason=reason,
            notify_url=_notify_url(body.get("notify_url"), required=False),
            request=_canonical(body),
            created_at=self.clock(),
        )

    def _refunded(self, out_trade_no: str) -> int:
        # CLOSED refunds gave nothing back; every other one holds its amount.
        refunds = self.refunds.values()
        return sum(r.amount_refund for r in refunds if r.out_trade_no == out_trade_no and r.status != "CLOSED")

    def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        with self.lock:
            refund = self.refunds.get(out_refund_no)
            if refund is None:
                raise PayFail(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return refund.as_dict()

    # ----- the simulated customer and WeChat Pay's back office (control API) -----------------

    def customer_pays(self, out_trade_no: str) -> Transaction:
        with self.lock:
            transaction = self.transactions.get(out_trade_no)
            if transaction is None:
                raise ControlRefused(404, f"no WeChat Pay order {out_trade_no}")
            if transaction.trade_state != "NOTPAY":
                raise ControlRefused(409, f"order {out_trade_no} is {transaction.trade_state}, it cannot be paid")
            now = self.clock()
            if transaction.time_expire is not None and now >= transaction.time_expire:
                raise ControlRefused(409, f"order {out_trade_no} expired at {beijing_time(transaction.time_expire)}")
            transaction.trade_state = "SUCCESS"
            transaction.transaction_id = _new_number("4200", 28)
            transaction.success_time = now
            self._notify_payment(transaction)
        self.on_paid(transaction.appid, transaction.payer_openid)
        return transaction

    def settle_refund(self, out_refund_no: str, status: str) -> Refund:
        with self.lock:
            refund = self.refunds.get(out_refund_no)
            if refund is None:
                raise ControlRefused(404, f"no refund {out_refund_no}")
            if refund.status != "PROCESSING":
                raise ControlRefused(409, f"refund {out_refund_no} is already {refund.status}")
            self._settle(refund, status)
            return refund

    def _settle(self, refund: Refund, status: str) -> None:
        refund.status = status
        if status == "SUCCESS":
            refund.success_time = self.clock()
        transaction = self.transactions[refund.out_trade_no]
        if self._refunded(transaction.out_trade_no) == 0:
            transaction.trade_state = "SUCCESS"  # every refund closed: the order is plainly paid again
        self._notify_refund(refund)

    def transaction_views(self, payer_openid: str | None, limit: int) -> list[dict[str, Any]]:
        """The newest orders first (of one payer, or everyone's), as transaction_view shows them."""
        with self.lock:
            found = [t for t in self.transactions.values() if payer_openid in (None, t.payer_openid)]
            newest = sorted(found, key=lambda t: t.created_at, reverse=True)[:limit]
            return [self.transaction_view(t.out_trade_no) for t in newest]

    def transaction_view(self, out_trade_no: str) -> dict[str, Any]:
        with self.lock:
            transaction = self.transactions.get(out_trade_no)
            if transaction is None:
                raise ControlRefused(404, f"no WeChat Pay order {out_trade_no}")
            refunds = [r.as_dict() for r in self.refunds.values() if r.out_trade_no == out_trade_no]
            expire = transaction.time_expire
            return {
                **transaction.as_dict(),
                "prepay_id": transaction.prepay_id,
                "description": transaction.description,
                "notify_url": transaction.notify_url,
                "time_expire": beijing_time(expire) if expire is not None else None,
                "refunds": refunds,
            }

    # ----- notifications ------------------------------------------------------------------------

    def _notify_payment(self, transaction: Transaction) -> None:
        resource = transaction.as_dict()
        self._enqueue("TRANSACTION.SUCCESS", "支付成功", transaction.notify_url, resource, transaction.out_trade_no)

    def _notify_refund(self, refund: Refund) -> None:
        if not refund.notify_url:
            return  # no notify_url: WeChat Pay would use the merchant platform's setting; we have none
        resource: dict[str, Any] = {
            "mchid": self.config.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": refund.amount_total,
                "refund": refund.amount_refund,
                "payer_total": refund.amount_total,
                "payer_refund": refund.amount_refund,
            },
        }
        if refund.success_time is not None:
            resource["success_time"] = beijing_time(refund.success_time)
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[refund.status]
        self._enqueue(f"REFUND.{refund.status}", summary, refund.notify_url, resource, refund.out_trade_no,
                      refund.out_refund_no)

    def _enqueue(
        self, event_type: str, summary: str, url: str, resource: dict[str, Any], out_trade_no: str,
        out_refund_no: str | None = None,
    ) -> None:
        notification_id = secrets.token_hex(16)
        body = self.notifier.sign_body(
            event_type=event_type, resource=resource, summary=summary,
            create_time=beijing_time(self.clock()), notification_id=notification_id,
        )
        self.notifier.enqueue(
            notification_id=notification_id, event_type=event_type, url=url, body=body,
            out_trade_no=out_trade_no, out_refund_no=out_refund_no,
        )

    # ----- checks -------------------------------------------------------------------------------

    def _check_merchant(self, auth_mchid: str, given: Any) -> None:
        if not isinstance(given, str) or not given:
            raise param_error("缺少参数 mchid")
        if given != auth_mchid:
            raise param_error("http header中的mchid与post payload中的mchid不匹配")

    def _check_appid(self, appid: Any) -> None:
        if not isinstance(appid, str) or not appid:
            raise param_error("缺少参数 appid")
        if appid not in self.config.appids:
            raise PayFail(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")

    def _transaction(self, out_trade_no: str) -> Transaction:
        transaction = self.transactions.get(out_trade_no)
        if transaction is None:
            raise PayFail(404, "ORDER_NOT_EXIST", "订单不存在")
        return transaction


def _canonical(body: dict[str, Any]) -> dict[str, Any]:
    # Key order must not make two equal requests differ.
    loaded: dict[str, Any] = json.loads(json.dumps(body, sort_keys=True))
    return loaded


def _out_trade_no(value: Any) -> str:
    if not isinstance(value, str) or not OUT_TRADE_NO.match(value):
        raise param_error("out_trade_no 应为 6-32 位数字、字母或 _-|*")
    return value


def _description(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise param_error("缺少参数 description")
    if len(value.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        raise param_error("description 超过 127 字节")
    return value


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise param_error(f"{name} 应为大于 0 的整数（单位：分）")
    return value


def _total(amount: Any) -> int:
    if not isinstance(amount, dict):
        raise param_error("缺少参数 amount")
    if amount.get("currency", "CNY") != "CNY":
        raise param_error("amount.currency 只支持 CNY")
    return _positive_int(amount.get("total"), "amount.total")


def _payer_openid(payer: Any) -> str:
    openid = payer.get("openid") if isinstance(payer, dict) else None
    if not isinstance(openid, str) or not OPENID.match(openid):
        raise param_error("缺少参数 payer.openid")
    return openid


def _notify_url(value: Any, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NOTIFY_URL:
        raise param_error("notify_url 格式不正确")
    parts = urlsplit(value)
    local = parts.scheme == "http" and parts.hostname in LOCAL_HOSTS
    if not (parts.scheme == "https" or local) or not parts.hostname:
        raise param_error("notify_url 必须为 https 地址")
    if parts.query or parts.fragment or "?" in value:
        raise param_error("notify_url 不能携带参数")
    return value


def _time_expire(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise param_error("time_expire 格式不正确")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise param_error("time_expire 格式不正确，应为 rfc3339") from None
    if parsed.tzinfo is None:
        raise param_error("time_expire 缺少时区")
    return parsed.timestamp()
