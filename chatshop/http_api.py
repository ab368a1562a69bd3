"""Wires the mini-program API (/mp/), the WeChat Pay notification endpoints (/pay/) and the staff
API (/admin/) into the app, from settings."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Channel
from chatshop.commerce_wiring import orders_config
from chatshop.pay_wiring import build_notification_verifier, build_pay_client
from commerce.db import transaction
from commerce.pay_notify import PaymentNotice, RefundNotice
from commerce.payments import receive_payment_notice
from commerce.refunds import apply_refund_notice
from commerce.wechatpay import WeChatPay
from miniprogram.admin import AdminApi, build_admin_router
from miniprogram.api import MpApi, build_mp_router
from miniprogram.config import AdminConfig, MpApiConfig
from miniprogram.pay_routes import PayNotifyEndpoints, build_pay_router
from miniprogram.sessions import exchange_code

if TYPE_CHECKING:
    from chatshop.app import Services

log = logging.getLogger(__name__)


def add_http_apis(app: FastAPI, services: Services) -> None:
    settings = services.settings
    pay = build_pay_client(settings)
    orders = orders_config(settings)
    body_limit = settings.mp_api.max_body_bytes
    mp_api = MpApi(
        factory=services.factory,
        exchange_code=partial(exchange_code, services.apis[Channel.MP].code_to_session),
        pay=pay,
        outbound=ThreadPoolExecutor(settings.mp_api.wechat_workers, thread_name_prefix="mp-wechat"),
        config=MpApiConfig(session_ttl_s=settings.mp_api.session_ttl_s, max_body_bytes=body_limit),
        orders=orders,
    )
    app.include_router(build_mp_router(mp_api))
    admin = AdminApi(factory=services.factory, pay=pay, max_body_bytes=body_limit,
                     config=AdminConfig(api_key=settings.admin.api_key.get_secret_value()))
    app.include_router(build_admin_router(admin))
    verifier = build_notification_verifier(settings)
    if pay is None or verifier is None:
        log.warning("WeChat Pay is not configured: checkout and /pay/notify are off")
        return
    endpoints = PayNotifyEndpoints(
        verifier=verifier,
        apply_payment=partial(_apply_payment, services.factory, pay),
        apply_refund=partial(_apply_refund, services.factory, pay),
        max_body_bytes=settings.mp_api.notify_max_body_bytes,
    )
    app.include_router(build_pay_router(endpoints))


def _apply_payment(factory: sessionmaker[Session], pay: WeChatPay, notice: PaymentNotice) -> str:
    return receive_payment_notice(factory, pay=pay, notice=notice).outcome.value


def _apply_refund(factory: sessionmaker[Session], pay: WeChatPay, notice: RefundNotice) -> str:
    with transaction(factory) as session:
        result = apply_refund_notice(session, notice=notice, expected_mchid=pay.config.mchid)
    return result.outcome.value
