"""The composition root: builds every package's typed config and wires the ASGI app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine
from starlette.responses import JSONResponse, Response

from bot.actions import Store
from bot.config import WebhookConfig
from bot.dialogue import Dialogue, Responder
from bot.models import Channel
from bot.webhook import WebhookEndpoint
from chatshop.accounts import WEBHOOK_PATHS, accounts, push_verifier
from chatshop.api_docs import add_api_docs
from chatshop.cards_wiring import image_library, serve_images
from chatshop.commerce_wiring import build_job_runner
from chatshop.data_keys import install_data_keys
from chatshop.dialogue_setup import build_dialogue
from chatshop.http_api import add_http_apis
from chatshop.sandbox_proxy import sandbox_proxy
from chatshop.sandbox_wiring import sandbox_config, with_sandbox_credentials
from chatshop.services import Services, build_services
from chatshop.settings import Settings
from intents.search import SearchTerms
from storage.db import database_answers
from web.metrics import REGISTRY
from web.raw_routes import FastAPIWithRawRoutes
from wechat_sandbox import create_sandbox_app

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, dialogue: Responder | None = None, sandbox_url: str | None = None) -> FastAPI:
    """The whole service. `dialogue` replaces the bot (a store's own, or a test's slow one); `sandbox_url`:
    the sandbox is served once for several workers (`serve --workers`), and /sandbox forwards there."""
    if settings.sandbox_enabled:
        settings = with_sandbox_credentials(settings)
    install_data_keys(settings)  # before anything reads or writes a sealed column
    services = build_services(settings)
    images = image_library(settings)
    terms = SearchTerms()  # one tokeniser for the bot's product search and the mini-program's
    store = Store(factory=services.factory, pay=services.pay, wechat=services.apis,
                  mp_app_id=settings.miniprogram.app_id, terms=terms, handoff=services.handoff)
    cards = services.cards
    dialogue = dialogue or build_dialogue(settings, services.factory, services.writer, store, cards,
                                          tags=services.tags, trackers=services.trackers)
    # Every periodic task: the outbox sweep and dedupe pruning, expiry, reconciliation, refunds, ageing.
    jobs = build_job_runner(settings, services)
    webhooks: list[WebhookEndpoint] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        yield
        # uvicorn has stopped accepting and let the requests under way finish (server.graceful_shutdown_s).
        await _hand_back(webhooks, services, settings.server.graceful_shutdown_s)
        jobs.stop()  # runs under way finish (their sends recorded); the job leases are released
        if services.outreach is not None:
            services.outreach.sender.close()
        if services.live is not None:
            services.live.stop()
        wechat_calls.shutdown(wait=True, cancel_futures=False)
        services.workers.close()
        services.writer.close()
        services.engine.dispose()

    # /docs and /redoc are served by add_api_docs with local assets, not FastAPI's CDN-loading defaults.
    app = FastAPIWithRawRoutes(title="chatshop", lifespan=lifespan, docs_url=None, redoc_url=None)
    add_api_docs(app)
    app.state.services = services
    app.state.jobs = jobs
    for channel, account in accounts(settings).items():
        if account.app_id and account.token:
            endpoint = _webhook(channel, settings, services, dialogue)
            webhooks.append(endpoint)
            path = WEBHOOK_PATHS[channel]
            # Plain Starlette routes: the webhook reads raw bytes and needs none of FastAPI's parsing.
            app.add_route(path, endpoint.verify_url, methods=["GET"], include_in_schema=False)
            app.add_raw_route("POST", path, endpoint.receive)  # the hot path: ahead of every middleware
    _add_operations_routes(app, services.engine)
    kb = dialogue.kb if isinstance(dialogue, Dialogue) else None  # a test's own bot has no KB to edit
    wechat_calls = add_http_apis(app, services, terms, kb)  # its executor for calls to WeChat, shut down below
    serve_images(app, images)
    if sandbox_url is not None:
        app.mount("/sandbox", sandbox_proxy(sandbox_url))
    elif settings.sandbox_enabled:
        app.mount("/sandbox", create_sandbox_app(sandbox_config(settings)))
    return app


async def _hand_back(webhooks: list[WebhookEndpoint], services: Services, grace_s: float) -> None:
    """On shutdown: replies that outlived their request get `grace_s` to be stored and sent, then the claims
    of messages still unanswered are released, so a retry landing on another process answers them."""
    await asyncio.gather(*(endpoint.finish_turns(grace_s) for endpoint in webhooks))
    try:
        released = services.conversations.release_claims()
    except Exception:
        # They go stale on their own once their lease (the reply budget) passes.
        log.exception("claims of unanswered messages could not be released")
        return
    if released:
        log.warning("released %d claim(s) of unanswered messages for their retries", released)


def _webhook(channel: Channel, settings: Settings, services: Services, dialogue: Responder) -> WebhookEndpoint:
    wechat = settings.wechat
    return WebhookEndpoint(
        channel=channel,
        verifier=push_verifier(accounts(settings)[channel], settings),
        conversations=services.conversations,
        dialogue=dialogue,
        messenger=services.messenger,
        config=WebhookConfig(
            max_clock_skew_s=wechat.max_clock_skew_s,
            reply_budget_ms=wechat.reply_budget_ms,
            max_body_bytes=wechat.max_body_bytes,
        ),
        workers=services.workers,
        handoff=services.handoff,
        outreach=services.outreach.inbound if services.outreach else None,
    )


def _add_operations_routes(app: FastAPI, engine: Engine) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        ok = await asyncio.get_running_loop().run_in_executor(None, database_answers, engine)
        return JSONResponse({"status": "ok" if ok else "database unavailable"}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
