"""The composition root: builds every package's typed config and wires the ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse, Response
from wechatpy.session import SessionStorage

from bot.config import (
    AccountConfig,
    MessengerConfig,
    WebhookConfig,
    WindowRule,
    lease_for_budget,
)
from bot.conversation import Conversations
from bot.dialogue import Responder
from bot.inbound import PushVerifier
from bot.messenger import BackgroundLoop, Messenger
from bot.metrics import REGISTRY
from bot.models import Channel, WindowAction
from bot.token_store import DatabaseTokenStore, RedisTokenStore
from bot.webhook import WebhookEndpoint
from bot.wechat_api import WeChatApi
from chatshop.commerce_wiring import build_job_runner
from chatshop.dialogue_setup import build_dialogue
from chatshop.http_api import add_http_apis
from chatshop.pay_wiring import sandbox_pay_config
from chatshop.settings import AccountSettings, Settings, with_sandbox_credentials
from storage.db import database_answers, make_session_factory, open_engine
from storage.group_commit import GroupCommitWriter
from wechat_sandbox import SandboxAccount, SandboxConfig, SandboxRules, create_sandbox_app

WEBHOOK_PATHS = {Channel.OA: "/wechat", Channel.MP: "/wechat/mp"}


@dataclass
class Services:
    """Everything the app built, kept for tests and the CLI."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    messenger: Messenger
    conversations: Conversations
    executor: ThreadPoolExecutor
    writer: GroupCommitWriter
    apis: dict[Channel, WeChatApi]  # one client per account, sharing the access-token store


def create_app(settings: Settings, *, dialogue: Responder | None = None) -> FastAPI:
    """The whole service. `dialogue` replaces the bot (a store's own, or a test's slow one)."""
    if settings.sandbox_enabled:
        settings = with_sandbox_credentials(settings)
    services = build_services(settings)
    dialogue = dialogue or build_dialogue(settings, services.factory, services.writer)
    background = BackgroundLoop(
        [services.messenger.sweep, services.conversations.forget_old_deliveries], settings.messenger.outbox_poll_s
    )

    jobs = build_job_runner(settings, services.factory)  # expiry, reconciliation, refunds, auto-complete

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background.start()
        jobs.start()
        yield
        jobs.stop()
        background.stop()
        wechat_calls.shutdown(wait=True, cancel_futures=False)
        services.executor.shutdown(wait=True, cancel_futures=False)
        services.writer.close()
        services.engine.dispose()

    app = FastAPI(title="chatshop", lifespan=lifespan)
    app.state.services = services
    for channel, account in accounts(settings).items():
        if account.app_id and account.token:
            endpoint = _webhook(channel, account, settings, services, dialogue)
            path = WEBHOOK_PATHS[channel]
            # Plain Starlette routes: the webhook reads raw bytes and needs none of FastAPI's parsing.
            app.add_route(path, endpoint.verify_url, methods=["GET"], include_in_schema=False)
            app.add_route(path, endpoint.receive, methods=["POST"], include_in_schema=False)
    _add_operations_routes(app, services.engine)
    wechat_calls = add_http_apis(app, services)  # its executor for calls to WeChat, shut down below
    if settings.sandbox_enabled:
        app.mount("/sandbox", create_sandbox_app(sandbox_config(settings)))
    return app


def build_services(settings: Settings) -> Services:
    engine = open_engine(settings.database.url, echo=settings.database.echo)
    factory = make_session_factory(engine)
    messenger_config = _messenger_config(settings)
    store = _token_store(settings, factory)
    apis = {
        channel: WeChatApi(
            app_id=account.app_id,
            app_secret=account.app_secret.get_secret_value(),
            base_url=settings.api_base_url,
            token_store=store,
            timeout_s=settings.wechat.request_timeout_s,
        )
        for channel, account in accounts(settings).items()
    }
    messenger = Messenger(factory=factory, apis=apis, config=messenger_config)
    writer = GroupCommitWriter(engine)
    conversations = Conversations(
        writer=writer, factory=factory, messenger=messenger, windows=messenger_config.windows,
        dedupe_ttl_s=settings.wechat.dedupe_ttl_s, claim_lease=lease_for_budget(settings.wechat.reply_budget_ms),
    )
    # The bot runs here, never on the event loop. Few threads: more only fight over the GIL.
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chatshop")
    return Services(settings, engine, factory, messenger, conversations, executor, writer, apis)


def accounts(settings: Settings) -> dict[Channel, AccountSettings]:
    return {Channel.OA: settings.wechat, Channel.MP: settings.miniprogram}


def _token_store(settings: Settings, factory: sessionmaker[Session]) -> SessionStorage:
    if settings.redis.url:
        return RedisTokenStore(settings.redis.url)
    return DatabaseTokenStore(factory)


def _messenger_config(settings: Settings) -> MessengerConfig:
    m = settings.messenger
    windows = {
        WindowAction.MESSAGE: WindowRule(m.user_message_window_s, m.user_message_quota),
        WindowAction.CLICK: WindowRule(m.click_window_s, m.click_quota),
        WindowAction.PAYMENT: WindowRule(m.payment_window_s, None),
        WindowAction.MP_MESSAGE: WindowRule(m.mp_message_window_s, m.mp_message_quota),
        WindowAction.MP_ENTER: WindowRule(m.mp_enter_window_s, m.mp_enter_quota),
    }
    return MessengerConfig(
        windows=windows,
        max_attempts=m.max_attempts,
        retry_backoff_s=m.retry_backoff_s,
        outbox_poll_s=m.outbox_poll_s,
        typing_exchange_s=m.typing_exchange_s,
        typing_lasts_s=m.typing_lasts_s,
        request_timeout_s=settings.wechat.request_timeout_s,
    )


def _account_config(channel: Channel, account: AccountSettings) -> AccountConfig:
    return AccountConfig(
        channel=channel,
        app_id=account.app_id,
        app_secret=account.app_secret.get_secret_value(),
        token=account.token.get_secret_value(),
        encoding_aes_key=account.encoding_aes_key.get_secret_value(),
        message_mode=account.message_mode.value,  # type: ignore[arg-type]
    )


def _webhook(
    channel: Channel, account: AccountSettings, settings: Settings, services: Services, dialogue: Responder
) -> WebhookEndpoint:
    wechat = settings.wechat
    return WebhookEndpoint(
        channel=channel,
        verifier=PushVerifier(_account_config(channel, account), max_clock_skew_s=wechat.max_clock_skew_s),
        conversations=services.conversations,
        dialogue=dialogue,
        messenger=services.messenger,
        config=WebhookConfig(
            max_clock_skew_s=wechat.max_clock_skew_s,
            reply_budget_ms=wechat.reply_budget_ms,
            max_body_bytes=wechat.max_body_bytes,
        ),
        executor=services.executor,
    )


def sandbox_config(settings: Settings) -> SandboxConfig:
    m = settings.messenger

    rules = SandboxRules(
        user_message_window_s=m.user_message_window_s, user_message_quota=m.user_message_quota,
        click_window_s=m.click_window_s, click_quota=m.click_quota, payment_window_s=m.payment_window_s,
        mp_message_window_s=m.mp_message_window_s, mp_message_quota=m.mp_message_quota,
        mp_enter_window_s=m.mp_enter_window_s, mp_enter_quota=m.mp_enter_quota,
        typing_exchange_s=m.typing_exchange_s, typing_lasts_s=m.typing_lasts_s,
    )
    base = settings.local_base_url
    sandbox_accounts = tuple(
        SandboxAccount(
            kind=channel.value,  # type: ignore[arg-type]
            app_id=account.app_id,
            app_secret=account.app_secret.get_secret_value(),
            token=account.token.get_secret_value(),
            encoding_aes_key=account.encoding_aes_key.get_secret_value(),
            original_id=account.original_id or f"gh_{channel.value}_sandbox",
            webhook_url=base + WEBHOOK_PATHS[channel],
            message_mode=account.message_mode.value,  # type: ignore[arg-type]
        )
        for channel, account in accounts(settings).items()
        if account.app_id
    )
    return SandboxConfig(accounts=sandbox_accounts, rules=rules, pay=sandbox_pay_config(settings))


def _add_operations_routes(app: FastAPI, engine: Engine) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        ok = await asyncio.get_running_loop().run_in_executor(None, database_answers, engine)
        return JSONResponse({"status": "ok" if ok else "database unavailable"}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
