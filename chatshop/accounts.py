"""The WeChat accounts from settings: one client per account, push verification, and the reply-window
rules (messenger.*) in the shape the messenger and the sandbox both take."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from wechatpy.session import SessionStorage

from bot.config import WindowRule
from bot.models import Channel, WindowAction
from chatshop.settings import AccountSettings, MessengerSettings, Settings
from wechat.client import WeChatClient
from wechat.push import PushAccount, PushVerifier
from wechat.tokens import DatabaseTokenStore, RedisTokenStore

WEBHOOK_PATHS = {Channel.OA: "/wechat", Channel.MP: "/wechat/mp"}


def accounts(settings: Settings) -> dict[Channel, AccountSettings]:
    return {Channel.OA: settings.wechat, Channel.MP: settings.miniprogram}


def window_rules(m: MessengerSettings) -> dict[WindowAction, WindowRule]:
    """What each customer action opens, from settings (whose defaults are WeChat's documented rules)."""
    return {
        WindowAction.MESSAGE: WindowRule(m.user_message_window_s, m.user_message_quota),
        WindowAction.CLICK: WindowRule(m.click_window_s, m.click_quota),
        WindowAction.PAYMENT: WindowRule(m.payment_window_s, None),
        WindowAction.MP_MESSAGE: WindowRule(m.mp_message_window_s, m.mp_message_quota),
        WindowAction.MP_ENTER: WindowRule(m.mp_enter_window_s, m.mp_enter_quota),
    }


def token_store(settings: Settings, factory: sessionmaker[Session]) -> SessionStorage:
    """Where every process finds the accounts' access tokens: Redis when configured, else the database."""
    if settings.redis.url:
        return RedisTokenStore(settings.redis.url, prefix=f"{settings.redis.key_prefix}wechat:")
    return DatabaseTokenStore(factory)


def wechat_clients(settings: Settings, store: SessionStorage) -> dict[Channel, WeChatClient]:
    return {
        channel: WeChatClient(
            app_id=account.app_id,
            app_secret=account.app_secret.get_secret_value(),
            base_url=settings.api_base_url,
            token_store=store,
            timeout_s=settings.wechat.request_timeout_s,
        )
        for channel, account in accounts(settings).items()
    }


def push_verifier(account: AccountSettings, settings: Settings) -> PushVerifier:
    push_account = PushAccount(
        app_id=account.app_id,
        token=account.token.get_secret_value(),
        encoding_aes_key=account.encoding_aes_key.get_secret_value(),
        message_mode=account.message_mode,
    )
    return PushVerifier(push_account, max_clock_skew_s=settings.wechat.max_clock_skew_s)
