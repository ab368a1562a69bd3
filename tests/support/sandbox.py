"""Test helpers: test accounts, a live uvicorn thread, a wechatpy client aimed at the sandbox,
and a webhook receiver that checks pushes with werobot's crypto."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import xmltodict
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from werobot.crypto import MessageCrypt
from werobot.utils import check_signature

from wechat_sandbox import SandboxAccount

PUSH_TIMEOUT_S = 1.5  # short, so the retry-on-timeout tests stay fast, yet long enough for a busy machine
SLOW_S = 2.0  # a receiver this slow misses the deadline


def _account(kind: str, name: str, mode: str, key_char: str) -> SandboxAccount:
    return SandboxAccount(
        kind=kind,  # type: ignore[arg-type]
        app_id=f"wx_{name}",
        app_secret=f"secret_{name}",
        token=f"token_{name}",
        encoding_aes_key=(key_char * 42) + "A",
        original_id=f"gh_{name}",
        webhook_url="",  # filled in by the fixture once the receiver has a port
        message_mode=mode,  # type: ignore[arg-type]
    )


ACCOUNTS: dict[str, SandboxAccount] = {
    "oa": _account("oa", "oa_safe", "safe", "k"),
    "oa_plain": _account("oa", "oa_plain", "plain", "p"),
    "oa_compat": _account("oa", "oa_compat", "compat", "c"),
    "mp": _account("mp", "mp_safe", "safe", "m"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """An ASGI app under uvicorn in a daemon thread, on real HTTP."""

    def __init__(self, app: Any, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class SandboxClient(WeChatClient):  # type: ignore[misc]
    """wechatpy with every base URL (including the hard-coded token URL) moved to the sandbox."""

    def __init__(self, sandbox_url: str, app_id: str, secret: str, auto_retry: bool = False) -> None:
        super().__init__(app_id, secret, auto_retry=auto_retry)
        self._sandbox_url = sandbox_url
        self.API_BASE_URL = f"{sandbox_url}/api/cgi-bin/"
        self.wxa.API_BASE_URL = f"{sandbox_url}/api/"

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self._sandbox_url}/api/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def errcode(call: Callable[[], Any]) -> int:
    """The WeChat errcode a wechatpy call fails with (0 if it succeeds)."""
    try:
        call()
    except WeChatClientException as exc:
        return int(exc.errcode)
    return 0


def api(http: httpx.Client, path: str, token: str | None, body: Any = None, **params: Any) -> dict[str, Any]:
    """A raw API call (for what wechatpy cannot express, e.g. a missing token or broken JSON)."""
    query = {**params, **({"access_token": token} if token is not None else {})}
    if body is None:
        response = http.get(f"/api/{path}", params=query)
    elif isinstance(body, bytes):
        response = http.post(f"/api/{path}", params=query, content=body)
    else:
        response = http.post(f"/api/{path}", params=query, json=body)
    result: dict[str, Any] = response.json()
    return result


def chat(http: httpx.Client, account: str, openid: str, **fields: Any) -> dict[str, Any]:
    """/chat/send as the simulated customer; `account` is a key of ACCOUNTS."""
    fields.setdefault("type", "text")
    if fields["type"] == "text":
        fields.setdefault("content", "你好")
    response = http.post("/chat/send", json={"account": ACCOUNTS[account].app_id, "openid": openid, **fields})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def text_reply(message: dict[str, Any], content: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{message['FromUserName']}]]></ToUserName>"
        f"<FromUserName><![CDATA[{message['ToUserName']}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content></xml>"
    )


@dataclass
class Received:
    """One push as the receiver saw it."""

    params: dict[str, str]
    body: bytes
    envelope: dict[str, Any]  # the XML as sent (plain fields and/or Encrypt)
    message: dict[str, Any]  # the decrypted message
    account: SandboxAccount


@dataclass
class Receiver:
    """The service side, reduced to what the sandbox tests need."""

    accounts: dict[str, SandboxAccount]
    received: list[Received] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)  # per push, in arrival order
    reply: Callable[[dict[str, Any]], str | None] = lambda _message: None
    encrypt_reply: bool = True
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.failures.clear()
            self.delays.clear()
        self.reply = lambda _message: None
        self.encrypt_reply = True
        self.status = 200

    def account_for(self, original_id: str) -> SandboxAccount:
        return next(a for a in self.accounts.values() if a.original_id == original_id)

    def crypt(self, account: SandboxAccount) -> MessageCrypt:
        return MessageCrypt(account.token, account.encoding_aes_key, account.app_id)

    def open(self, params: dict[str, str], body: bytes) -> Received:
        envelope: dict[str, Any] = xmltodict.parse(body)["xml"]
        account = self.account_for(envelope["ToUserName"])
        if not check_signature(account.token, params["timestamp"], params["nonce"], params["signature"]):
            raise ValueError("bad signature")
        if params.get("encrypt_type") == "aes":
            plain = self.crypt(account).decrypt_message(
                params["timestamp"], params["nonce"], params["msg_signature"], envelope["Encrypt"]
            )
            message: dict[str, Any] = xmltodict.parse(plain)["xml"]
        else:
            message = envelope
        return Received(params, body, envelope, message, account)


def build_receiver_app(receiver: Receiver) -> FastAPI:
    app = FastAPI()

    @app.get("/wechat")
    def verify(signature: str, timestamp: str, nonce: str, echostr: str) -> Response:
        token = next(iter(receiver.accounts.values())).token
        if not check_signature(token, timestamp, nonce, signature):
            return PlainTextResponse("bad signature", status_code=403)
        return PlainTextResponse(echostr)

    @app.post("/wechat")
    async def push(request: Request) -> Response:
        body = await request.body()
        try:
            got = receiver.open(dict(request.query_params), body)
        except Exception as exc:  # any failure here is what the test asserts on
            receiver.failures.append(repr(exc))
            return PlainTextResponse("bad push", status_code=403)
        with receiver.lock:
            receiver.received.append(got)
            delay = receiver.delays.pop(0) if receiver.delays else 0.0
        if delay:
            await asyncio.sleep(delay)
        reply = receiver.reply(got.message)
        if reply is None:
            return PlainTextResponse("success", status_code=receiver.status)
        if got.params.get("encrypt_type") == "aes" and receiver.encrypt_reply:
            reply = receiver.crypt(got.account).encrypt_message(reply)
        return Response(reply, media_type="application/xml", status_code=receiver.status)

    return app


def get_json(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    response.raise_for_status()
    return response.json()
