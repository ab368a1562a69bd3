"""Customers' personal data never reaches the service's log in clear: openids (WeChat's, the sandbox's, any
value named as one), mobile numbers and addresses are masked in our lines, the libraries', exception
tracebacks and uvicorn's access log of a real request, through the handler `chatshop serve` logs with."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from chatshop.logs import ADDRESS_MASK, RedactSecrets, configure_service_logging, openid_mask
from chatshop.settings import load_settings
from tests.support import free_port

WECHAT_OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
ADDRESS = "广东省广州市天河区体育西路100号8楼"


@contextmanager
def fresh_uvicorn_loggers() -> Iterator[None]:
    """uvicorn's loggers as a new `chatshop serve` process has them (another test's server may have given
    them handlers of their own), restored after."""
    saved = []
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate, logger.level, logger.disabled))
        logger.handlers, logger.propagate, logger.disabled = [], True, False
        logger.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        for logger, handlers, propagate, level, disabled in saved:
            logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
            logger.setLevel(level)


@contextmanager
def service_logging() -> Iterator[None]:
    """The service's logging as `chatshop` configures it, writing to stderr as it is now (capsys's), undone after."""
    root = logging.getLogger()
    level = root.level
    configure_service_logging(load_settings(environ={}))
    try:
        yield
    finally:
        root.removeHandler(next(h for h in root.handlers if h.get_name() == "chatshop"))
        root.setLevel(level)


def test_openids_phones_and_addresses_are_masked_in_every_kind_of_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Given lines of ours and of libraries that carry a customer's data in their arguments and messages
    with service_logging():
        logging.getLogger("chatshop.test").warning("customer %s (sandbox %s) paid", WECHAT_OPENID, "o_mask_alice")
        logging.getLogger("some.library").warning("push <xml><FromUserName><![CDATA[%s]]></FromUserName>",
                                                  "mask_bob")
        logging.getLogger("bot.outreach.inbound").warning(
            "skipped %r", {"openid": "mask_carol", "text": f"寄到{ADDRESS}，电话 138-0013-8000"})
        logging.getLogger("commerce").warning("address %s", {"name": "张三", "phone": "+86 139 1234 5678",
                                                             "detail": "体育西路 100 号 8 楼"})
    logged = capsys.readouterr().err
    # Then none of it is there in clear, and each is still told apart from the rest of the line
    for clear in (WECHAT_OPENID, "o_mask_alice", "mask_bob", "mask_carol", "13800138000", "138-0013-8000",
                  "139 1234 5678", "体育西路", "天河区"):
        assert clear not in logged
    assert f"customer {openid_mask(WECHAT_OPENID)} (sandbox {openid_mask('o_mask_alice')}) paid" in logged
    assert f"<![CDATA[{openid_mask('mask_bob')}]]>" in logged
    assert f"'text': '{ADDRESS_MASK}，电话 138****8000'" in logged
    assert "'phone': '+86 139****5678'" in logged and f"'detail': '{ADDRESS_MASK}'" in logged


def test_an_exceptions_message_is_masked_in_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    row = {"openid": "o_mask_dan", "detail": ADDRESS, "phone": "13912345678"}  # (a traceback shows the raise's line)
    with service_logging():
        try:
            raise ValueError(f"could not store {row}")
        except ValueError:
            logging.getLogger("chatshop.test").exception("the bot failed")
    logged = capsys.readouterr().err
    assert "Traceback" in logged and "ValueError: could not store" in logged
    assert "o_mask_dan" not in logged and "体育西路" not in logged and "13912345678" not in logged


def test_uvicorns_access_log_of_a_real_request_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a server logging as `chatshop serve` does (uvicorn's loggers through the service's handler)
    async def anything(_: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True))
    thread = threading.Thread(target=server.run, daemon=True)
    with fresh_uvicorn_loggers(), service_logging():
        thread.start()
        try:
            while not server.started:
                time.sleep(0.01)
            # When requests name customers in their paths and query strings
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                http.get("/staff/api/orders", params={"openid": "mask_erin", "phone": "13800138000"})
                http.post(f"/admin/customers/{WECHAT_OPENID}/revoke-logins")
                http.post("/wechat", params={"signature": "abc", "openid": "o_mask_frank", "encrypt_type": "aes"})
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    logged = capsys.readouterr().err
    # Then the access log has a line for each, with none of them in clear
    assert f'"GET /staff/api/orders?openid={openid_mask("mask_erin")}&phone=138****8000 HTTP/1.1" 200' in logged
    assert f'"POST /admin/customers/{openid_mask(WECHAT_OPENID)}/revoke-logins HTTP/1.1" 200' in logged
    assert f"openid={openid_mask('o_mask_frank')}&encrypt_type=aes" in logged
    for clear in ("mask_erin", "13800138000", WECHAT_OPENID, "o_mask_frank"):
        assert clear not in logged


def test_masking_keeps_a_formatters_arguments_and_is_done_once() -> None:
    # uvicorn's own access formatter reads record.args: masking must leave them a tuple
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/x?openid=mask_gina", "1.1", 200), None)
    masking = RedactSecrets()
    masking.filter(record)
    assert isinstance(record.args, tuple) and record.args[2] == f"/x?openid={openid_mask('mask_gina')}"
    once = record.getMessage()
    masking.filter(record)  # a record through two handlers
    assert record.getMessage() == once


@pytest.mark.parametrize("line", [
    "order 20261205014403123456 paid 13800 fen, transaction 4200001234567890123456789012",
    "outbox_sweep_and_dedupe_pruning_job ran; 这个市场价多少，型号是什么，订单号 3号",
    "GET /mp/products?limit=20&offset=0 HTTP/1.1 200",
])
def test_lines_without_personal_data_are_left_as_they_are(line: str) -> None:
    assert RedactSecrets().mask(line) == line
