"""WeChat Pay wiring: the client and the notification verifier, from settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from chatshop.settings import PaySettings, Settings, SettingsError
from wechat.pay import PRODUCTION_PAY_BASE_URL, PayConfig, WeChatPay
from wechat.pay_notify import NotificationVerifier

NOTIFY_PATH = "/pay/notify"
REFUND_NOTIFY_PATH = "/pay/refund-notify"
# Every pay setting a working merchant needs (appid falls back to the mini-program's).
REQUIRED = ("mchid", "apiv3_key", "merchant_private_key_path", "merchant_cert_serial_no",
            "platform_public_key_path", "platform_public_key_id")


# ----- the merchant side -------------------------------------------------------------------------


def is_configured(pay: PaySettings) -> bool:
    return not missing_settings(pay)


def missing_settings(pay: PaySettings) -> list[str]:
    def unset(key: str) -> bool:
        value = getattr(pay, key)
        return not (value.get_secret_value() if isinstance(value, SecretStr) else value)

    return [f"pay.{key}" for key in REQUIRED if unset(key)]


def pay_config(settings: Settings) -> PayConfig | None:
    """The client's config; None when WeChat Pay is not set up at all. Half a setup stops start-up."""
    pay = settings.pay
    missing = missing_settings(pay)
    if len(missing) == len(REQUIRED):
        return None
    if missing:
        raise SettingsError(f"WeChat Pay is partly configured: set {', '.join(missing)}")
    appid = pay.appid or settings.miniprogram.app_id
    if not appid:
        raise SettingsError("pay.appid: set it, or miniprogram.app_id, to the app customers pay in")
    apiv3_key = pay.apiv3_key.get_secret_value()
    if len(apiv3_key.encode("utf-8")) != 32:
        raise SettingsError("pay.apiv3_key: must be 32 characters (the APIv3 key from the merchant platform)")
    assert pay.merchant_private_key_path is not None and pay.platform_public_key_path is not None
    base = settings.local_base_url
    return PayConfig(
        mchid=pay.mchid,
        appid=appid,
        apiv3_key=apiv3_key,
        merchant_private_key=read_key(pay.merchant_private_key_path, "pay.merchant_private_key_path"),
        merchant_cert_serial_no=pay.merchant_cert_serial_no,
        platform_public_key=read_key(pay.platform_public_key_path, "pay.platform_public_key_path"),
        platform_public_key_id=pay.platform_public_key_id,
        api_base_url=pay.api_base_url or PRODUCTION_PAY_BASE_URL,
        notify_url=pay.notify_url or base + NOTIFY_PATH,
        refund_notify_url=pay.refund_notify_url or base + REFUND_NOTIFY_PATH,
        timeout_s=pay.request_timeout_s,
    )


def build_pay_client(settings: Settings) -> WeChatPay | None:
    config = pay_config(settings)
    if config is None:
        return None
    try:
        return WeChatPay(config)
    except Exception as exc:  # wechatpayv3 raises a bare Exception for a key it cannot load
        raise SettingsError(f"pay: the merchant private key or platform public key is unusable ({exc})") from None


def build_notification_verifier(settings: Settings) -> NotificationVerifier | None:
    config = pay_config(settings)
    if config is None:
        return None
    try:
        return NotificationVerifier(
            apiv3_key=config.apiv3_key,
            platform_public_key=config.platform_public_key,
            platform_public_key_id=config.platform_public_key_id,
            max_clock_skew_s=settings.pay.max_clock_skew_s,
        )
    except ValueError as exc:
        raise SettingsError(f"pay.platform_public_key_path: not an RSA public key ({exc})") from None


def read_key(path: Path, setting: str) -> str:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.__class__.__name__}") from None
    if "-----BEGIN" not in text:
        raise SettingsError(f"{setting}: {path} is not a PEM file")
    return text
