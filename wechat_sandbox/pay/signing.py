"""WeChat Pay's signatures and resource encryption, as the platform side does them.

Written from WeChat Pay's documentation, independently of wechatpayv3 (the merchant side) and of
commerce/pay_notify.py, so that a mistake on one side fails an exchange instead of cancelling out.
Tests and benchmarks use NotificationSigner to make notifications with keys they generate.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')
_AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")


class AuthorizationError(ValueError):
    """The merchant's Authorization header is missing, malformed or does not verify."""


def new_rsa_key_pem(bits: int = 2048) -> tuple[str, str]:
    """A fresh RSA key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    return private, public


def public_key_pem_of(private_pem: str) -> str:
    key = _private_key(private_pem)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@functools.lru_cache(maxsize=16)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    # Loading checks the key's arithmetic (tens of milliseconds); a key object is immutable, so every app
    # the process builds with the same key shares one.
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("expected an RSA private key")
    return key


def _public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("expected an RSA public key")
    return key


def rsa_sha256_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa_sha256_verifies(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        key.verify(base64.b64decode(signature_b64, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def encrypt_resource(
    apiv3_key: str, plaintext: str, *, associated_data: str, nonce: str | None = None
) -> dict[str, str]:
    """AEAD_AES_256_GCM with the APIv3 key; nonce (12 chars) and associated data are UTF-8 text."""
    nonce = nonce or secrets.token_hex(6)
    sealed = AESGCM(apiv3_key.encode("utf-8")).encrypt(
        nonce.encode("utf-8"), plaintext.encode("utf-8"), associated_data.encode("utf-8")
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


@dataclass(frozen=True)
class MerchantAuth:
    mchid: str
    serial_no: str
    timestamp: int
    nonce_str: str


class PlatformSigner:
    """Signs what the platform sends: API answers and notifications (the Wechatpay-* headers)."""

    def __init__(self, private_key_pem: str, public_key_id: str) -> None:
        self._key = _private_key(private_key_pem)
        self.public_key_id = public_key_id

    def headers(self, body: bytes, *, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or secrets.token_hex(16)
        signature = rsa_sha256_sign(self._key, stamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n")
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": self.public_key_id,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }


class NotificationSigner:
    """Makes WeChat Pay notifications: an encrypted resource in a JSON envelope, signed."""

    def __init__(self, *, platform_private_key: str, platform_public_key_id: str, apiv3_key: str) -> None:
        self.platform = PlatformSigner(platform_private_key, platform_public_key_id)
        self.apiv3_key = apiv3_key

    def body(
        self,
        *,
        event_type: str,
        resource: dict[str, Any],
        summary: str,
        create_time: str,
        notification_id: str | None = None,
    ) -> bytes:
        original_type = "refund" if event_type.startswith("REFUND.") else "transaction"
        plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        sealed = encrypt_resource(self.apiv3_key, plaintext, associated_data=original_type)
        envelope = {
            "id": notification_id or str(uuid.uuid4()),
            "create_time": create_time,
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, **sealed},
        }
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def sign(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", **self.platform.headers(body, timestamp=timestamp)}


def request_signature_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The five lines a merchant signs: method, URL (path and query), timestamp, nonce, body."""
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def verify_authorization(
    header: str, *, method: str, url: str, body: bytes, merchant_public_key: rsa.RSAPublicKey
) -> MerchantAuth:
    """Check `WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,timestamp=..,serial_no=..`
    over "METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n" with the merchant's public key."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SIGNATURE_TYPE:
        raise AuthorizationError("Authorization must use WECHATPAY2-SHA256-RSA2048")
    fields = dict(_AUTH_FIELD.findall(rest))
    missing = [name for name in _AUTH_FIELDS if not fields.get(name)]
    if missing:
        raise AuthorizationError(f"Authorization lacks {', '.join(missing)}")
    if not fields["timestamp"].isdigit():
        raise AuthorizationError("Authorization timestamp is not a number")
    message = request_signature_message(method, url, fields["timestamp"], fields["nonce_str"], body)
    if not rsa_sha256_verifies(merchant_public_key, message, fields["signature"]):
        raise AuthorizationError("signature does not verify with the merchant's certificate")
    return MerchantAuth(fields["mchid"], fields["serial_no"], int(fields["timestamp"]), fields["nonce_str"])


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    return _public_key(pem)
