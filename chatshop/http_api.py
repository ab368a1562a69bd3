"""Wires the mini-program API (/mp/), the WeChat Pay notification endpoints (/pay/) and the staff
APIs (/admin/, /staff/api/) into the app, from settings."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Channel
from bot.pay_webhook import PayNotifyEndpoints, build_pay_router
from chatshop.analytics_wiring import view_tracker
from chatshop.commerce_wiring import orders_config
from chatshop.limits_wiring import rate_limits
from chatshop.pay_wiring import build_notification_verifier
from chatshop.services import Services
from chatshop.staff_wiring import staff_config
from commerce.payments import receive_payment_notice
from commerce.refunds import apply_refund_notice
from intents.kb_source import KnowledgeBaseSource
from intents.search import SearchTerms
from miniprogram.api import MpApi, build_mp_router
from miniprogram.config import MpApiConfig
from miniprogram.login import exchange_code
from miniprogram.subscriptions import add_subscription_routes
from staff.api import AdminApi, build_admin_router
from staff.backoffice import BackOffice
from staff.campaigns_api import CampaignTools
from staff.config import AdminConfig
from staff.console import mount_console
from staff.staff_api import StaffApi, StaffAuth, build_staff_router
from storage.db import transaction
from web.rate_limits import RateLimits
from wechat.pay import WeChatPay
from wechat.pay_notify import PaymentNotice, RefundNotice

log = logging.getLogger(__name__)


def add_http_apis(app: FastAPI, services: Services, terms: SearchTerms,
                  kb: KnowledgeBaseSource | None = None) -> Executor:
    """Mount the routers; returns the executor of calls to WeChat, for the app to shut down.
    `terms` turns the words of a catalog search into search terms (the bot's own, shared); `kb` is the
    running bot's knowledge base, which the back office edits and tries sentences on."""
    settings = services.settings
    wechat_calls = ThreadPoolExecutor(settings.mp_api.wechat_workers, thread_name_prefix="mp-wechat")
    pay = services.pay
    limits = rate_limits(settings)  # one set of counts for the mini-program's and the staff's routes
    mp_api = _mp_api(services, pay, wechat_calls, terms, limits)
    mp_router = build_mp_router(mp_api)
    if services.outreach is not None:
        add_subscription_routes(mp_router, mp_api, services.outreach.registry)
    app.include_router(mp_router)
    app.include_router(build_admin_router(_admin_api(services, pay)))
    staff_api = StaffApi(factory=services.factory, config=staff_config(settings),
                         max_body_bytes=settings.mp_api.max_body_bytes, handoff=services.handoff, live=services.live,
                         campaigns=_campaign_tools(services), backoffice=_backoffice(services, pay, kb),
                         limits=limits)
    app.include_router(build_staff_router(staff_api))
    mount_console(app, StaffAuth(staff_api))  # the staff console's pages (/console), for signed-in staff
    endpoints = _pay_endpoints(services, pay)
    if endpoints is None:
        log.warning("WeChat Pay is not configured: checkout and /pay/notify are off")
    else:
        app.include_router(build_pay_router(endpoints))
    return wechat_calls


def _campaign_tools(services: Services) -> CampaignTools | None:
    outreach = services.outreach
    if outreach is None:
        return None
    return CampaignTools(registry=outreach.registry,
                         timezone=services.settings.outreach.timezone)


def _backoffice(services: Services, pay: WeChatPay | None, kb: KnowledgeBaseSource | None) -> BackOffice:
    settings = services.settings
    return BackOffice(pay=pay, kb=kb, kb_path=settings.kb.path,
                      tag_rules=services.tags.source if services.tags is not None else None,
                      routing=services.handoff.routing if services.handoff is not None else None,
                      timezone=settings.routing.timezone)


def _mp_api(services: Services, pay: WeChatPay | None, wechat_calls: Executor, terms: SearchTerms,
            limits: RateLimits) -> MpApi:
    settings = services.settings
    return MpApi(
        factory=services.factory,
        search_terms=terms.terms,
        exchange_code=partial(exchange_code, services.apis[Channel.MP].login.code_to_session),
        pay=pay,
        outbound=wechat_calls,
        config=MpApiConfig(session_ttl_s=settings.mp_api.session_ttl_s, max_body_bytes=settings.mp_api.max_body_bytes),
        orders=orders_config(settings),
        card_opened=services.tags.card_opened if services.tags else None,
        track_view=view_tracker(settings, services.writer),
        limits=limits,
    )


def _admin_api(services: Services, pay: WeChatPay | None) -> AdminApi:
    settings = services.settings
    return AdminApi(factory=services.factory, pay=pay, max_body_bytes=settings.mp_api.max_body_bytes,
                    config=AdminConfig(api_key=settings.admin.api_key.get_secret_value()))


def _pay_endpoints(services: Services, pay: WeChatPay | None) -> PayNotifyEndpoints | None:
    verifier = build_notification_verifier(services.settings)
    if pay is None or verifier is None:
        return None
    return PayNotifyEndpoints(
        verifier=verifier,
        apply_payment=partial(_apply_payment, services.factory, pay),
        apply_refund=partial(_apply_refund, services.factory, pay),
        max_body_bytes=services.settings.mp_api.notify_max_body_bytes,
    )


def _apply_payment(factory: sessionmaker[Session], pay: WeChatPay, notice: PaymentNotice) -> str:
    return receive_payment_notice(factory, pay=pay, notice=notice).outcome.value


def _apply_refund(factory: sessionmaker[Session], pay: WeChatPay, notice: RefundNotice) -> str:
    with transaction(factory) as session:
        result = apply_refund_notice(session, notice=notice, expected_mchid=pay.config.mchid)
    return result.outcome.value
