"""Message push on the wire: sign and encrypt like WeChat, deliver with its deadline and
retries, and read the passive reply back the way WeChat would accept or refuse it."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .config import SandboxAccount
from .crypto import CryptoError, MessageCipher, sign
from .xmlcodec import XmlFields, child_text, parse_xml, render_xml, reply_fields

PASSIVE_TYPES = frozenset({"text", "image", "voice", "video", "music", "news", "transfer_customer_service"})
MAX_PASSIVE_ARTICLES = 1
PUSH_HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}


@dataclass(frozen=True)
class SignedPush:
    params: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Delivery:
    status: int | None  # None: no HTTP answer at all on the last try
    tries: int
    elapsed_ms: int
    raw: str
    error: str | None


@dataclass(frozen=True)
class PassiveReply:
    reply: dict[str, Any] | None
    error: str | None


def new_nonce() -> str:
    return str(secrets.randbelow(10**10))


def sign_push(account: SandboxAccount, fields: XmlFields, openid: str) -> SignedPush:
    """The query and body WeChat would send for this message in the account's mode."""
    timestamp, nonce = str(int(time.time())), new_nonce()
    params = {"signature": sign(account.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    params["openid"] = openid
    if account.message_mode == "plain":
        return SignedPush(params, render_xml(fields).encode("utf-8"))
    encrypt = MessageCipher(account.encoding_aes_key, account.app_id).encrypt(render_xml(fields))
    params["encrypt_type"] = "aes"
    params["msg_signature"] = sign(account.token, timestamp, nonce, encrypt)
    if account.message_mode == "compat":
        envelope: XmlFields = [*fields, ("Encrypt", encrypt)]
    else:
        envelope = [("ToUserName", account.original_id), ("Encrypt", encrypt)]
    return SignedPush(params, render_xml(envelope).encode("utf-8"))


async def deliver(url: str, push: SignedPush, timeout_s: float, tries: int) -> Delivery:
    """POST the same bytes up to `tries` times, giving each try `timeout_s` in all (WeChat's deadline)."""
    started = time.monotonic()
    error: str | None = None
    # trust_env=False: a proxy from the environment must not intercept pushes to a local webhook.
    async with httpx.AsyncClient(timeout=None, trust_env=False) as client:
        for attempt in range(1, tries + 1):
            try:
                request = client.post(url, params=push.params, content=push.body, headers=PUSH_HEADERS)
                response = await asyncio.wait_for(request, timeout_s)
            except TimeoutError:
                error = f"no answer within {timeout_s:g} s"
                continue
            except httpx.HTTPError as exc:
                error = f"connection failed: {exc!r}"
                continue
            elapsed = int((time.monotonic() - started) * 1000)
            return Delivery(response.status_code, attempt, elapsed, response.content.decode("utf-8", "replace"), None)
    return Delivery(None, tries, int((time.monotonic() - started) * 1000), "", error)


def _open_envelope(account: SandboxAccount, root: Any) -> Any:
    """The inner XML of an encrypted reply, after checking MsgSignature against the token."""
    encrypt = child_text(root, "Encrypt") or ""
    timestamp = child_text(root, "TimeStamp") or ""
    nonce = child_text(root, "Nonce") or ""
    if sign(account.token, timestamp, nonce, encrypt) != (child_text(root, "MsgSignature") or ""):
        raise ValueError("bad MsgSignature on the encrypted reply")
    try:
        inner = MessageCipher(account.encoding_aes_key, account.app_id).decrypt(encrypt)
    except CryptoError as exc:
        raise ValueError(f"cannot decrypt the reply: {exc}") from exc
    return parse_xml(inner)


def _reply_problem(
    account: SandboxAccount, openid: str, root: Any, reply: dict[str, Any], is_event: bool
) -> str | None:
    """Why WeChat would refuse this reply (the user then sees 该公众号暂时无法提供服务)."""
    msgtype = reply["msgtype"]
    if child_text(root, "ToUserName") != openid:
        return "reply ToUserName is not the customer's openid"
    if child_text(root, "FromUserName") != account.original_id:
        return "reply FromUserName is not the account's original id"
    if msgtype not in PASSIVE_TYPES:
        return f"unsupported reply MsgType {msgtype!r}"
    if account.kind == "mp" and msgtype != "transfer_customer_service":
        return "a mini-program push accepts only success or transfer_customer_service"
    if msgtype == "news" and max(reply["article_count"], len(reply["articles"])) > MAX_PASSIVE_ARTICLES:
        return "a passive news reply holds at most 1 article"
    if msgtype == "transfer_customer_service" and is_event:
        return "transfer_customer_service answers user messages, not events"
    return None


def read_reply(account: SandboxAccount, openid: str, delivery: Delivery, is_event: bool) -> PassiveReply:
    if delivery.status is None:
        return PassiveReply(None, delivery.error)
    if delivery.status != 200:
        return PassiveReply(None, f"webhook answered HTTP {delivery.status}")
    text = delivery.raw.strip()
    if not text or text == "success":
        return PassiveReply(None, None)
    try:
        root = parse_xml(text)
        encrypted = root.find("Encrypt") is not None
        if encrypted and account.message_mode == "plain":
            return PassiveReply(None, "encrypted reply to a plaintext-mode push")
        if not encrypted and account.message_mode == "safe":
            return PassiveReply(None, "safe mode needs an encrypted reply")
        inner = _open_envelope(account, root) if encrypted else root
    except ValueError as exc:
        return PassiveReply(None, str(exc))
    reply = reply_fields(inner)
    problem = _reply_problem(account, openid, inner, reply, is_event)
    reply.pop("article_count", None)
    return PassiveReply(None, problem) if problem else PassiveReply(reply, None)


async def verify_url(account: SandboxAccount, timeout_s: float) -> dict[str, Any]:
    """WeChat's server-URL check: GET with signature/timestamp/nonce/echostr, expect echostr back."""
    timestamp, nonce, echostr = str(int(time.time())), new_nonce(), str(secrets.randbits(63))
    params = {"signature": sign(account.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    params["echostr"] = echostr
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
            response = await client.get(account.webhook_url, params=params)
    except httpx.HTTPError as exc:
        return {"ok": False, "status": None, "body": "", "error": repr(exc)}
    body = response.content.decode("utf-8", "replace")
    return {"ok": response.status_code == 200 and body == echostr, "status": response.status_code, "body": body}
