"""Message pushes from WeChat: the URL signature, the timestamp, decryption and parsing (werobot underneath).

Order matters: the URL signature is checked before the body is read, the timestamp before the body
is parsed, and every XML document (outer and decrypted) is parsed by expat with a DTD refused at its
first token, so an entity bomb or an external entity is never declared, let alone expanded (what
defusedxml's `forbid_dtd` does; parsing with expat's callbacks directly costs a third of going
through defusedxml and ElementTree, which every push paid twice).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from xml.parsers import expat

from werobot.crypto import MessageCrypt, PrpCrypto
from werobot.utils import get_signature

from .errors import PushRefusal, PushRefused


class MessageMode(StrEnum):
    PLAIN = "plain"  # plaintext pushes, plaintext replies
    COMPAT = "compat"  # plain fields plus Encrypt; either kind accepted
    SAFE = "safe"  # only Encrypt; a plaintext push is refused


@dataclass(frozen=True)
class PushAccount:
    """One account that pushes to us, as the WeChat console configures it."""

    app_id: str
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)
    message_mode: MessageMode = MessageMode.SAFE


@dataclass(frozen=True)
class Push:
    """A verified, decrypted push: its XML fields, flat (nested elements as dicts)."""

    fields: Mapping[str, Any]
    encrypted: bool  # the reply must be encrypted too


class PushVerifier:
    """Checks signatures and timestamps and decrypts, for one account."""

    def __init__(self, account: PushAccount, *, max_clock_skew_s: int) -> None:
        self._account = account
        self._max_skew = max_clock_skew_s
        self._crypt = _message_crypt(account) if account.encoding_aes_key else None

    @property
    def mode(self) -> MessageMode:
        return self._account.message_mode

    def check_url_signature(self, query: Mapping[str, str]) -> None:
        expected = get_signature(self._account.token, query.get("timestamp", ""), query.get("nonce", ""))
        if not _same(query.get("signature", ""), expected):
            raise PushRefused(PushRefusal.BAD_SIGNATURE)
        self._check_timestamp(query.get("timestamp", ""))

    def _check_timestamp(self, timestamp: str) -> None:
        if not self._max_skew:
            return
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise PushRefused(PushRefusal.STALE_TIMESTAMP) from None
        if skew > self._max_skew:
            raise PushRefused(PushRefusal.STALE_TIMESTAMP)

    def open(self, body: bytes, query: Mapping[str, str]) -> Push:
        """Verify and decrypt a push body (the URL signature is already checked)."""
        outer = _parse_fields(body)
        encrypted = "Encrypt" in outer
        if encrypted:
            fields = _parse_fields(self._decrypt(outer["Encrypt"], query))
        elif self.mode is MessageMode.SAFE:
            raise PushRefused(PushRefusal.PLAINTEXT_IN_SAFE_MODE)
        else:
            fields = outer
        if not str(fields.get("FromUserName") or "").strip():
            raise PushRefused(PushRefusal.MALFORMED, "no FromUserName")
        return Push(fields, encrypted)

    def _decrypt(self, encrypt: str, query: Mapping[str, str]) -> bytes:
        if self._crypt is None:
            raise PushRefused(PushRefusal.MALFORMED, "encrypted push but no EncodingAESKey is configured")
        expected = get_signature(
            self._account.token, query.get("timestamp", ""), query.get("nonce", ""), encrypt
        )
        if not _same(query.get("msg_signature", ""), expected):
            raise PushRefused(PushRefusal.BAD_SIGNATURE)
        try:
            plain: bytes = self._crypt.prp_crypto.decrypt(encrypt, self._account.app_id)
        except Exception as exc:  # a bad key, padding or appid all mean: not for us
            raise PushRefused(PushRefusal.MALFORMED, f"cannot decrypt: {type(exc).__name__}") from None
        return plain

    def seal(self, reply_xml: str, *, encrypt: bool) -> str:
        """The response body for a rendered reply: encrypted when the push was."""
        if not encrypt or self._crypt is None:
            return reply_xml
        return str(self._crypt.encrypt_message(reply_xml, nonce=secrets.token_hex(5)))


class _PrpCrypto(PrpCrypto):  # type: ignore[misc]
    """werobot's cipher, drawing its 16 random prefix bytes with one call to the OS, not sixteen."""

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


def _message_crypt(account: PushAccount) -> MessageCrypt:
    crypt = MessageCrypt(account.token, account.encoding_aes_key, account.app_id)
    crypt.prp_crypto = _PrpCrypto(base64.b64decode(account.encoding_aes_key + "="))
    return crypt


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _parse_fields(body: bytes) -> dict[str, Any]:
    """A push's fields as a flat dict, nested elements (ScanCodeInfo, ...) as dicts, repeated ones as lists."""
    try:
        tag, fields = _FieldsParser().parse(body)
    except (expat.ExpatError, _Forbidden, ValueError) as exc:
        raise PushRefused(PushRefusal.MALFORMED, f"bad XML: {type(exc).__name__}") from None
    if tag != "xml":
        raise PushRefused(PushRefusal.MALFORMED, "root element is not <xml>")
    return fields if isinstance(fields, dict) else {}  # <xml> with text only: no fields


class _Forbidden(ValueError):
    """A DTD (and with it any entity declaration) in a push."""


class _FieldsParser:
    """One document into nested values: an element's text, or a dict of its children when it has any
    (text between them is ignored); a repeated child (a popup event's <List>s) becomes a list."""

    def __init__(self) -> None:
        self._open: list[tuple[str, list[str], dict[str, Any] | None]] = []  # tag, text, children
        self._root: tuple[str, Any] | None = None
        parser = expat.ParserCreate()
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.UnparsedEntityDeclHandler = self._refuse
        parser.ExternalEntityRefHandler = self._refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        self._parser = parser

    def parse(self, body: bytes) -> tuple[str, Any]:
        self._parser.Parse(body, True)
        if self._root is None:
            raise ValueError("no root element")
        return self._root

    def _refuse(self, *_: Any) -> int:
        raise _Forbidden("DTDs and entities are refused")

    def _start(self, tag: str, _attributes: dict[str, str]) -> None:
        if self._open and self._open[-1][2] is None:
            parent_tag, parent_text, _ = self._open[-1]
            self._open[-1] = (parent_tag, parent_text, {})
        self._open.append((tag, [], None))

    def _text(self, data: str) -> None:
        if self._open:
            self._open[-1][1].append(data)

    def _end(self, _tag: str) -> None:
        tag, text, children = self._open.pop()
        value: Any = "".join(text) if children is None else children
        if not self._open:
            self._root = (tag, value)
            return
        siblings = self._open[-1][2]
        assert siblings is not None
        if tag not in siblings:
            siblings[tag] = value
        elif isinstance(siblings[tag], list):
            siblings[tag].append(value)
        else:
            siblings[tag] = [siblings[tag], value]
