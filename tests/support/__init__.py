"""Test helpers: a live server, and pushes built the way WeChat builds them.

Pushes are signed here with hashlib and encrypted with wechatpy's crypto, an implementation
independent of the werobot code the server uses, so a bug on one side cannot hide in the other.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import xmltodict
from fastapi import FastAPI
from sqlalchemy import text
from wechatpy.crypto import WeChatCrypto

from chatshop.app import create_app
from chatshop.database import all_metadata
from chatshop.sandbox_wiring import with_sandbox_credentials, with_sandbox_pay
from chatshop.services import Services
from chatshop.settings import DEFAULT_CONFIG_PATH, Settings, load_settings
from storage.db import open_engine
from storage.sealing import Sealer, parse_keys

FIXTURES = Path(__file__).parent.parent / "fixtures"
DEMO_KB = Path(__file__).parent.parent.parent / "chatshop" / "demo" / "kb.yaml"
DEMO_TAG_RULES = DEMO_KB.with_name("tag_rules.yaml")
# Every test talks plain HTTP to 127.0.0.1, and httpx reads the system's CA bundle for each client it makes
# (tens of milliseconds, thousands of clients a run): this one context, read once, serves them all.
LOCAL_TLS = ssl.create_default_context()
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)
# The keys the tests seal personal data with, in this process and in every server they start (fixed, so
# rows written before a server starts open in it). Not secrets: nothing real is sealed with them.
TEST_DATA_KEYS = "test1:" + base64.b64encode(b"chatshop-test-data-key-000000001").decode()
TEST_INDEX_KEY = base64.b64encode(b"chatshop-test-index-key-00000001").decode()


def sealer_for_tests() -> Sealer:
    keys, current = parse_keys(TEST_DATA_KEYS)
    return Sealer(keys, current=current, index_key=base64.b64decode(TEST_INDEX_KEY))


def fixture_path(relative: str) -> Path:
    """A fixture file's path; a missing fixture fails loudly instead of testing nothing."""
    path = FIXTURES / relative
    if not path.exists():
        raise FileNotFoundError(f"missing test fixture {path}")
    return path


def empty_tables(database_url: str) -> None:
    """Empty every table of the test database (schema and migrations kept)."""
    engine = open_engine(database_url)
    tables = [table.name for table in reversed(all_metadata().sorted_tables)]
    with engine.begin() as connection:
        # DELETE rather than TRUNCATE on PostgreSQL too: on tables of a few rows it takes a tenth of the
        # time (TRUNCATE makes new files for every table), and it runs before most tests.
        for name in tables:
            connection.execute(text(f"DELETE FROM {name}"))
        if engine.dialect.name == "postgresql":
            connection.execute(text(
                "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
                " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"))
    engine.dispose()


def fixture_text(relative: str) -> str:
    return fixture_path(relative).read_text(encoding="utf-8")


def render_fixture(relative: str, **values: Any) -> str:
    text = fixture_text(relative)
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def next_msg_id() -> int:
    return next(_msg_ids)


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Account:
    app_id: str
    token: str
    aes_key: str
    original_id: str


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    app: FastAPI
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def account(self, kind: str = "oa") -> Account:
        section = self.settings.wechat if kind == "oa" else self.settings.miniprogram
        return Account(
            app_id=section.app_id,
            token=section.token.get_secret_value(),
            aes_key=section.encoding_aes_key.get_secret_value(),
            original_id=section.original_id,
        )

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=LOCAL_TLS, timeout=15)

    def stop(self) -> None:
        stop_serving(self._server, self._thread)


def settings_for_test(database_url: str, tmp_path: Path, overrides: Mapping[str, str], port: int) -> Settings:
    environ = {
        "CHATSHOP__DATABASE__URL": database_url,
        "CHATSHOP__SERVER__PORT": str(port),
        "CHATSHOP__KB__PATH": str(DEMO_KB),
        "CHATSHOP__TAGS__RULES_PATH": str(DEMO_TAG_RULES),
        "CHATSHOP__OUTREACH__TEMPLATES_PATH": str(DEMO_KB.with_name("subscribe_templates.yaml")),
        "CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "sandbox-credentials.json"),
        "CHATSHOP__LOGGING__LEVEL": "WARNING",
        # Every test client comes from 127.0.0.1, and a module logs in more customers a minute than a real
        # address would: the tests of the limits turn them on (tests/chatshop/test_rate_limits.py).
        "CHATSHOP__RATE_LIMITS__ENABLED": "false",
        "CHATSHOP__DATA__KEYS": TEST_DATA_KEYS,
        "CHATSHOP__DATA__INDEX_KEY": TEST_INDEX_KEY,
        **overrides,
    }
    settings = load_settings(DEFAULT_CONFIG_PATH, environ=environ)
    if not settings.sandbox_enabled:
        return settings
    seed_sandbox_merchant(settings.sandbox.credentials_path.parent)
    return with_sandbox_credentials(settings)


_MERCHANT_TEMPLATE: list[Path] = []


def seed_sandbox_merchant(var: Path) -> None:
    """Give a test server's var/ the sandbox's WeChat Pay merchant, made once per test process: its two
    RSA keys take a fifth of a second to generate, for each of hundreds of servers otherwise. The server
    still reads them from var/ as it does its own."""
    if (var / "sandbox-pay.json").exists():
        return
    if not _MERCHANT_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="chatshop-test-merchant-"))
        with_sandbox_pay(settings_for_template(template))
        _MERCHANT_TEMPLATE.append(template)
    var.mkdir(parents=True, exist_ok=True)
    for file in _MERCHANT_TEMPLATE[0].glob("sandbox-pay*"):
        shutil.copy2(file, var / file.name)


def settings_for_template(var: Path) -> Settings:
    environ = {"CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(var / "sandbox-credentials.json")}
    return load_settings(DEFAULT_CONFIG_PATH, environ=environ)


@dataclass
class LiveSandbox:
    """A sandbox in its own server, outliving app restarts as WeChat does."""

    base_url: str
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        stop_serving(self._server, self._thread)


def start_sandbox(settings: Settings) -> LiveSandbox:
    from chatshop.sandbox_wiring import sandbox_config
    from wechat_sandbox import create_sandbox_app

    port = free_port()
    server, thread = _serve(create_sandbox_app(sandbox_config(settings)), port)
    return LiveSandbox(f"http://127.0.0.1:{port}", server, thread)


def stop_serving(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop as uvicorn does on SIGTERM: the app's shutdown (its jobs stopped) always runs."""
    server.should_exit = True
    thread.join(timeout=15)
    _forget_stopped_apps()


def _forget_stopped_apps() -> None:
    """FastAPI remembers whether each dependency it has seen is a coroutine or a generator in module-level
    caches of 4096 entries each; the callables remembered keep a stopped app (about 25 MB) alive until
    newer ones push them out, so a test run would grow by gigabytes. Nothing else holds a stopped app."""
    from fastapi.dependencies import models

    for name in ("_is_gen_callable_cached", "_is_async_gen_callable_cached", "_is_coroutine_callable_cached"):
        cache = getattr(models, name, None)
        if cache is not None and hasattr(cache, "cache_clear"):
            cache.cache_clear()


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    # A connection still open 2 s into a stop (a browser's event stream, a kept-alive client) is cancelled
    # rather than waited for; the app's shutdown still runs.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return server, thread


def start_server(
    database_url: str,
    tmp_path: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    port: int | None = None,
    **app_options: Any,
) -> LiveServer:
    port = port or free_port()
    settings = settings_for_test(database_url, tmp_path, overrides or {}, port)
    app = create_app(settings, **app_options)
    server, thread = _serve(app, port)
    return LiveServer(f"http://127.0.0.1:{port}", settings, app, server, thread)


@dataclass(frozen=True)
class Push:
    """One HTTP push as WeChat sends it: query string and body bytes."""

    params: dict[str, str]
    body: bytes


def make_push(
    xml: str,
    account: Account,
    *,
    mode: str = "safe",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> Push:
    timestamp_s = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**9))
    params = {
        "signature": sha1_signature(account.token, timestamp_s, nonce),
        "timestamp": timestamp_s,
        "nonce": nonce,
        "openid": _field(xml, "FromUserName"),
    }
    if mode == "plain":
        return Push(params, xml.encode())
    crypto = WeChatCrypto(account.token, account.aes_key, account.app_id)
    sealed = crypto.encrypt_message(xml, nonce, timestamp_s)
    encrypt = xmltodict.parse(sealed)["xml"]["Encrypt"]
    params |= {"encrypt_type": "aes", "msg_signature": sha1_signature(account.token, timestamp_s, nonce, encrypt)}
    if mode == "safe":
        to = f"<ToUserName><![CDATA[{account.original_id}]]></ToUserName>"
        body = f"<xml>{to}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    else:  # compat: the plain fields plus Encrypt
        body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    return Push(params, body.encode())


def open_reply(body: str, account: Account, *, encrypted: bool) -> dict[str, Any]:
    """Parse a passive reply, decrypting and verifying it as WeChat would."""
    if encrypted:
        outer = xmltodict.parse(body)["xml"]
        crypto = WeChatCrypto(account.token, account.aes_key, account.app_id)
        body = crypto.decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    parsed: dict[str, Any] = xmltodict.parse(body)["xml"]
    return parsed


def _field(xml: str, name: str) -> str:
    start = xml.find(f"<{name}>")
    if start < 0:
        return ""
    value = xml[start + len(name) + 2 : xml.find(f"</{name}>")]
    return value.removeprefix("<![CDATA[").removesuffix("]]>")


def text_push(server: LiveServer, content: str, *, openid: str = "o_test_customer", mode: str = "safe",
              timestamp: int | None = None) -> tuple[Account, Push]:
    """A customer's text message to the Official Account, pushed as WeChat would (fresh MsgId)."""
    account = server.account()
    xml = render_fixture("wechat/text.xml", to=account.original_id, openid=openid,
                         create_time=int(time.time()), content=content, msg_id=next_msg_id())
    return account, make_push(xml, account, mode=mode, timestamp=timestamp)
