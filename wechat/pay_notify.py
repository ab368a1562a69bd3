"""Verify and open WeChat Pay notifications (payment and refund results).

A notification is trusted only when, in this order: its Wechatpay-Serial names our platform
public key, its Wechatpay-Signature verifies (RSA-SHA256 over "timestamp\\nnonce\\nbody\\n"), its
timestamp is within max_clock_skew_s of our clock (WeChat Pay does not ask for this; it stops
replays of captured notifications), and its resource decrypts with the APIv3 key (AES-256-GCM,
whose tag also authenticates it). The decrypted resource is then parsed into a typed notice.
Checking the notice against the order (appid, mchid, amount) is the commerce core's job.

The body is never logged: the decrypted resource carries the payer's openid and amounts.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import NotificationRefusal, NotificationRefused
from .pay import parse_time

log = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
RESOURCE_ALGORITHM = "AEAD_AES_256_GCM"
MAX_BODY_BYTES = 64 * 1024  # WeChat Pay's notifications are about 1 KB


@dataclass(frozen=True)
class PaymentNotice:
    appid: str
    mchid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str  # SUCCESS for TRANSACTION.SUCCESS
    amount_total: int  # fen, the order amount WeChat Pay charged
    payer_openid: str
    success_time: datetime | None  # UTC
    notification_id: str


@dataclass(frozen=True)
class RefundNotice:
    mchid: str
    out_trade_no: str
    out_refund_no: str
    refund_id: str
    refund_status: str  # SUCCESS, ABNORMAL or CLOSED
    amount_refund: int  # fen
    amount_total: int  # fen
    notification_id: str
    transaction_id: str = ""
    success_time: datetime | None = None  # UTC; only on SUCCESS


@dataclass(frozen=True)
class _Envelope:
    notification_id: str
    event_type: str
    resource: dict[str, Any]


class NotificationVerifier:
    """One merchant's verifier; thread-safe and stateless apart from its keys."""

    def __init__(
        self,
        *,
        apiv3_key: str,
        platform_public_key: str,
        platform_public_key_id: str,
        max_clock_skew_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key_bytes = apiv3_key.encode("utf-8")
        if len(key_bytes) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")
        public_key = serialization.load_pem_public_key(platform_public_key.encode("ascii"))
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("the platform public key must be an RSA key")
        self._aes = AESGCM(key_bytes)
        self._public_key = public_key
        self._public_key_id = platform_public_key_id
        self._max_skew_s = max_clock_skew_s
        self._clock = clock

    def payment(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        envelope = self._open(headers, body, "transaction")
        if not envelope.event_type.startswith("TRANSACTION."):
            raise _malformed(f"not a payment notification: {envelope.event_type}")
        return _payment_notice(envelope)

    def refund(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        envelope = self._open(headers, body, "refund")
        if not envelope.event_type.startswith("REFUND."):
            raise _malformed(f"not a refund notification: {envelope.event_type}")
        return _refund_notice(envelope)

    # ----- the checks, in order ------------------------------------------------------------

    def _open(self, headers: Mapping[str, str], body: bytes, original_type: str) -> _Envelope:
        if len(body) > MAX_BODY_BYTES:
            raise _malformed("notification body too large")
        wanted = _lower_keys(headers)
        timestamp = self._check_signature(wanted, body)
        self._check_timestamp(timestamp)
        envelope = _parse_envelope(body)
        resource = self._decrypt(envelope, original_type)
        log.info("pay notification %s (%s) verified", envelope["id"], envelope["event_type"])
        return _Envelope(envelope["id"], envelope["event_type"], resource)

    def _check_signature(self, headers: Mapping[str, str], body: bytes) -> int:
        signature = headers.get("wechatpay-signature", "")
        timestamp = headers.get("wechatpay-timestamp", "")
        nonce = headers.get("wechatpay-nonce", "")
        serial = headers.get("wechatpay-serial", "")
        signature_type = headers.get("wechatpay-signature-type", SIGNATURE_TYPE)
        if not (signature and timestamp and nonce and serial):
            raise _forged("missing Wechatpay-* signature headers")
        if signature_type != SIGNATURE_TYPE:
            raise _forged(f"unsupported signature type {signature_type[:40]!r}")
        if serial != self._public_key_id:
            raise _forged(f"unknown platform key serial {serial[:64]!r}")
        if not timestamp.isdigit():
            raise _forged("Wechatpay-Timestamp is not a number")
        message = timestamp.encode() + b"\n" + nonce.encode("utf-8") + b"\n" + body + b"\n"
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            self._public_key.verify(raw_signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (binascii.Error, ValueError, InvalidSignature):
            raise _forged("signature does not verify with the platform public key") from None
        return int(timestamp)

    def _check_timestamp(self, timestamp: int) -> None:
        if self._max_skew_s <= 0:
            return
        skew = timestamp - self._clock()
        if abs(skew) > self._max_skew_s:
            direction = "ahead of" if skew > 0 else "behind"
            raise _stale(f"timestamp {abs(int(skew))} s {direction} our clock")

    def _decrypt(self, envelope: dict[str, Any], original_type: str) -> dict[str, Any]:
        resource = envelope["resource"]
        if resource.get("algorithm") != RESOURCE_ALGORITHM:
            raise _malformed(f"unsupported resource algorithm {resource.get('algorithm')!r}")
        if resource.get("original_type", original_type) != original_type:
            raise _malformed(f"resource is a {resource.get('original_type')!r}, not a {original_type}")
        nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
        associated = resource.get("associated_data") or ""
        if not (isinstance(nonce, str) and isinstance(ciphertext, str) and isinstance(associated, str)):
            raise _malformed("resource needs nonce, ciphertext and associated_data strings")
        try:
            plain = _aead_open(self._aes, nonce, ciphertext, associated)
        except (binascii.Error, ValueError) as exc:
            raise _malformed(f"resource is not decryptable: {exc}") from None
        except InvalidTag:
            # The tag authenticates the resource: a failure is tampering or a different APIv3 key.
            raise _forged("resource does not decrypt with the APIv3 key") from None
        try:
            decoded = json.loads(plain.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _malformed("decrypted resource is not JSON") from None
        if not isinstance(decoded, dict):
            raise _malformed("decrypted resource is not a JSON object")
        return decoded


def decrypt_resource(apiv3_key: str, *, nonce: str, ciphertext: str, associated_data: str) -> str:
    """AEAD_AES_256_GCM as WeChat Pay uses it (key, nonce and associated data as UTF-8 text)."""
    return _aead_open(AESGCM(apiv3_key.encode("utf-8")), nonce, ciphertext, associated_data).decode("utf-8")


def _aead_open(cipher: AESGCM, nonce: str, ciphertext: str, associated_data: str) -> bytes:
    return cipher.decrypt(nonce.encode("utf-8"), base64.b64decode(ciphertext), associated_data.encode("utf-8"))


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    # HTTP header names are case-insensitive; proxies and frameworks change their case.
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _parse_envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _malformed("notification body is not JSON") from None
    if not isinstance(envelope, dict):
        raise _malformed("notification body is not a JSON object")
    for name in ("id", "event_type"):
        if not isinstance(envelope.get(name), str) or not envelope[name]:
            raise _malformed(f"notification has no {name}")
    if envelope.get("resource_type", "encrypt-resource") != "encrypt-resource":
        raise _malformed("resource_type is not encrypt-resource")
    if not isinstance(envelope.get("resource"), dict):
        raise _malformed("notification has no resource")
    return envelope


def _text(resource: Mapping[str, Any], name: str) -> str:
    value = resource.get(name)
    if not isinstance(value, str) or not value:
        raise _malformed(f"resource has no {name}")
    return value


def _fen(container: Any, name: str) -> int:
    value = container.get(name) if isinstance(container, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(f"resource amount.{name} is not a whole number of fen")
    return value


def _payment_notice(envelope: _Envelope) -> PaymentNotice:
    resource = envelope.resource
    payer = resource.get("payer")
    return PaymentNotice(
        appid=_text(resource, "appid"),
        mchid=_text(resource, "mchid"),
        out_trade_no=_text(resource, "out_trade_no"),
        transaction_id=_text(resource, "transaction_id"),
        trade_state=_text(resource, "trade_state"),
        amount_total=_fen(resource.get("amount"), "total"),
        payer_openid=_text(payer, "openid") if isinstance(payer, Mapping) else _text({}, "payer.openid"),
        success_time=parse_time(resource.get("success_time")),
        notification_id=envelope.notification_id,
    )


def _refund_notice(envelope: _Envelope) -> RefundNotice:
    resource = envelope.resource
    amount = resource.get("amount")
    return RefundNotice(
        mchid=_text(resource, "mchid"),
        out_trade_no=_text(resource, "out_trade_no"),
        out_refund_no=_text(resource, "out_refund_no"),
        refund_id=_text(resource, "refund_id"),
        refund_status=_text(resource, "refund_status"),
        amount_refund=_fen(amount, "refund"),
        amount_total=_fen(amount, "total"),
        notification_id=envelope.notification_id,
        transaction_id=str(resource.get("transaction_id", "")),
        success_time=parse_time(resource.get("success_time")),
    )


def _forged(detail: str) -> NotificationRefused:
    return NotificationRefused(NotificationRefusal.FORGED, detail)


def _stale(detail: str) -> NotificationRefused:
    return NotificationRefused(NotificationRefusal.STALE, detail)


def _malformed(detail: str) -> NotificationRefused:
    return NotificationRefused(NotificationRefusal.MALFORMED, detail)
