"""Turning a message push into a verified, decrypted, typed inbound message (werobot underneath).

Order matters: the URL signature is checked before the body is read, the timestamp before the body
is parsed, and every XML document (outer and decrypted) goes through defusedxml first, so a DTD,
an entity bomb or an external entity never reaches a parser that would expand it.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring
from werobot.crypto import MessageCrypt, PrpCrypto
from werobot.parser import process_message
from werobot.utils import get_signature

from bot.config import AccountConfig, MessageMode
from bot.models import Channel, WindowAction


class PushRefused(Exception):
    """A push we will not act on. `forbidden` ones get 403; the rest get `success` (WeChat's rule)."""

    reason = "refused"
    forbidden = False


class BadSignature(PushRefused):
    reason = "bad_signature"
    forbidden = True


class StaleTimestamp(PushRefused):
    reason = "stale_timestamp"
    forbidden = True


class MalformedPush(PushRefused):
    reason = "malformed"


class OversizedBody(PushRefused):
    reason = "oversized"


class PlaintextRefused(PushRefused):
    reason = "plaintext_in_safe_mode"


@dataclass(frozen=True)
class Inbound:
    """One customer message or event, as the conversation layer sees it."""

    channel: Channel
    openid: str
    kind: str  # text, image, voice, ..., or the event name (subscribe, click, user_enter_tempsession)
    create_time: int
    msg_id: int | None
    content: str = ""
    event_key: str = ""
    menu_id: str = ""  # bizmsgmenuid: the tapped msgmenu item
    session_from: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)
    encrypted: bool = False

    @property
    def is_event(self) -> bool:
        return self.msg_id is None

    @property
    def dedupe_key(self) -> str:
        # WeChat retries carry the same MsgId; events have none, so sender + time identifies them
        # (plus the event's name: a follow and an unfollow can share a second).
        if self.msg_id is not None:
            return f"{self.channel}:msg:{self.msg_id}"
        return f"{self.channel}:event:{self.openid}:{self.create_time}:{self.kind}"

    @property
    def window_action(self) -> WindowAction | None:
        """Which customer-service window this action opens (None: it opens none)."""
        if self.channel is Channel.MP:
            if self.kind == "user_enter_tempsession":
                return WindowAction.MP_ENTER
            return None if self.is_event else WindowAction.MP_MESSAGE
        if self.kind in ("subscribe", "click", "scan"):
            return WindowAction.CLICK
        return None if self.is_event else WindowAction.MESSAGE


class PushVerifier:
    """Checks signatures and timestamps and decrypts, for one account."""

    def __init__(self, account: AccountConfig, *, max_clock_skew_s: int) -> None:
        self._account = account
        self._max_skew = max_clock_skew_s
        self._crypt = _message_crypt(account) if account.encoding_aes_key else None

    @property
    def mode(self) -> MessageMode:
        return self._account.message_mode

    def check_url_signature(self, query: Mapping[str, str]) -> None:
        expected = get_signature(self._account.token, query.get("timestamp", ""), query.get("nonce", ""))
        if not _same(query.get("signature", ""), expected):
            raise BadSignature()
        self._check_timestamp(query.get("timestamp", ""))

    def _check_timestamp(self, timestamp: str) -> None:
        if not self._max_skew:
            return
        try:
            skew = abs(time.time() - int(timestamp))
        except ValueError:
            raise StaleTimestamp() from None
        if skew > self._max_skew:
            raise StaleTimestamp()

    def open(self, body: bytes, query: Mapping[str, str]) -> Inbound:
        """Verify and decrypt a push body (the URL signature is already checked)."""
        outer = _parse_fields(body)
        encrypted = "Encrypt" in outer
        if encrypted:
            fields = _parse_fields(self._decrypt(outer["Encrypt"], query))
        elif self.mode == "safe":
            raise PlaintextRefused()
        else:
            fields = outer
        return _to_inbound(fields, self._account.channel, encrypted=encrypted)

    def _decrypt(self, encrypt: str, query: Mapping[str, str]) -> bytes:
        if self._crypt is None:
            raise MalformedPush("encrypted push but no EncodingAESKey is configured")
        expected = get_signature(
            self._account.token, query.get("timestamp", ""), query.get("nonce", ""), encrypt
        )
        if not _same(query.get("msg_signature", ""), expected):
            raise BadSignature()
        try:
            plain: bytes = self._crypt.prp_crypto.decrypt(encrypt, self._account.app_id)
        except Exception as exc:  # a bad key, padding or appid all mean: not for us
            raise MalformedPush(f"cannot decrypt: {type(exc).__name__}") from None
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


def _message_crypt(account: AccountConfig) -> MessageCrypt:
    crypt = MessageCrypt(account.token, account.encoding_aes_key, account.app_id)
    crypt.prp_crypto = _PrpCrypto(base64.b64decode(account.encoding_aes_key + "="))
    return crypt


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _parse_fields(body: bytes) -> dict[str, Any]:
    """A push's fields as a flat dict, nested elements (ScanCodeInfo, ...) as dicts."""
    try:
        root = safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPush(f"bad XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise MalformedPush("root element is not <xml>")
    return {child.tag: _element_value(child) for child in root}


def _element_value(element: Element) -> Any:
    if len(element):
        return {child.tag: _element_value(child) for child in element}
    return element.text or ""


def _to_inbound(fields: dict[str, Any], channel: Channel, *, encrypted: bool) -> Inbound:
    if not str(fields.get("FromUserName") or "").strip():
        raise MalformedPush("no FromUserName")
    try:
        message = process_message(dict(fields))  # werobot's typed message
        msg_type = str(fields["MsgType"]).lower()
        event = str(fields.get("Event", "")).lower()
        msg_id = fields.get("MsgId") or fields.get("MsgID")
        return Inbound(
            channel=channel,
            openid=str(fields["FromUserName"]),
            kind=event if msg_type == "event" else msg_type,
            create_time=int(fields["CreateTime"]),
            msg_id=int(msg_id) if msg_id and msg_type != "event" else None,
            content=str(getattr(message, "content", "") or ""),
            event_key=str(fields.get("EventKey", "") or ""),
            menu_id=str(fields.get("bizmsgmenuid", "") or ""),
            session_from=str(fields.get("SessionFrom", "") or ""),
            fields=fields,
            encrypted=encrypted,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise MalformedPush(f"missing or bad field: {exc}") from None
