"""Wires the mini-program API (/mp/), the WeChat Pay notification endpoints (/pay/) and the staff
API (/admin/) into the app, from settings."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fastapi import FastAPI

from bot.models import Channel
from miniprogram.api import MpApi, build_mp_router
from miniprogram.config import MpApiConfig
from miniprogram.sessions import exchange_code

if TYPE_CHECKING:
    from chatshop.app import Services


def add_http_apis(app: FastAPI, services: Services) -> None:
    settings = services.settings
    mp_config = MpApiConfig(
        session_ttl_s=settings.mp_api.session_ttl_s, max_body_bytes=settings.mp_api.max_body_bytes
    )
    mp_api = MpApi(
        factory=services.factory,
        exchange_code=partial(exchange_code, services.apis[Channel.MP].code_to_session),
        config=mp_config,
    )
    app.include_router(build_mp_router(mp_api))
