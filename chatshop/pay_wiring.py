"""WeChat Pay wiring: the client, the notification verifier and the sandbox merchant, from settings.

With the sandbox on, every unset pay setting is filled with a sandbox merchant generated once
under var/ (next to the sandbox credentials, mode 600): a merchant key pair, a platform key pair,
an APIv3 key and a mchid. The client then talks to the sandbox's gateway at /sandbox/pay/, which
verifies the merchant's signatures with the merchant public key and signs with the platform key.
"""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from chatshop.settings import PaySettings, Settings, SettingsError
from commerce.pay_notify import NotificationVerifier
from commerce.wechatpay import PRODUCTION_PAY_BASE_URL, PayConfig, WeChatPay
from wechat_sandbox.pay import SandboxPayConfig, new_rsa_key_pem, public_key_pem_of

NOTIFY_PATH = "/pay/notify"
REFUND_NOTIFY_PATH = "/pay/refund-notify"
SANDBOX_GATEWAY_PATH = "/sandbox/pay/"
# Every pay setting a working merchant needs (appid falls back to the mini-program's).
REQUIRED = ("mchid", "apiv3_key", "merchant_private_key_path", "merchant_cert_serial_no",
            "platform_public_key_path", "platform_public_key_id")


# ----- the sandbox merchant ---------------------------------------------------------------------


def with_sandbox_pay(settings: Settings) -> Settings:
    """Fill unset pay settings with the sandbox merchant's (generated once under var/)."""
    var = settings.sandbox.credentials_path.parent
    merchant = _load_or_create_sandbox_merchant(var)
    pay = settings.pay
    update: dict[str, Any] = {}
    for key in ("mchid", "merchant_cert_serial_no", "platform_public_key_id"):
        if not getattr(pay, key):
            update[key] = merchant[key]
    if not pay.apiv3_key.get_secret_value():
        update["apiv3_key"] = SecretStr(merchant["apiv3_key"])
    if pay.merchant_private_key_path is None:
        update["merchant_private_key_path"] = var / merchant["merchant_private_key_file"]
    if pay.platform_public_key_path is None:
        update["platform_public_key_path"] = var / merchant["platform_public_key_file"]
    if not pay.api_base_url:
        update["api_base_url"] = settings.local_base_url + SANDBOX_GATEWAY_PATH
    sandbox = settings.sandbox
    if sandbox.pay_platform_private_key_path is None:
        platform_key = var / merchant["platform_private_key_file"]
        sandbox = sandbox.model_copy(update={"pay_platform_private_key_path": platform_key})
    return settings.model_copy(update={"pay": pay.model_copy(update=update), "sandbox": sandbox})


def _load_or_create_sandbox_merchant(var: Path) -> dict[str, str]:
    path = var / "sandbox-pay.json"
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    var.mkdir(parents=True, exist_ok=True)
    merchant_private, _ = new_rsa_key_pem()
    platform_private, platform_public = new_rsa_key_pem()
    files = {
        "merchant_private_key_file": ("sandbox-pay-merchant-key.pem", merchant_private),
        "platform_private_key_file": ("sandbox-pay-platform-key.pem", platform_private),
        "platform_public_key_file": ("sandbox-pay-platform-public-key.pem", platform_public),
    }
    for name, text in files.values():
        _write_private(var / name, text)
    alphabet = string.ascii_letters + string.digits
    merchant = {
        "mchid": "19" + "".join(secrets.choice(string.digits) for _ in range(8)),
        "merchant_cert_serial_no": secrets.token_hex(20).upper(),
        "platform_public_key_id": "PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(28)),
        "apiv3_key": "".join(secrets.choice(alphabet) for _ in range(32)),
        **{key: name for key, (name, _) in files.items()},
    }
    _write_private(path, json.dumps(merchant, indent=2))
    return merchant


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text, encoding="utf-8")


def sandbox_pay_config(settings: Settings) -> SandboxPayConfig | None:
    """The merchant the sandbox's gateway serves: the configured one, keys read from their files."""
    pay = settings.pay
    platform_key_path = settings.sandbox.pay_platform_private_key_path
    if not is_configured(pay) or platform_key_path is None:
        return None
    assert pay.merchant_private_key_path is not None  # is_configured checked it
    appids = tuple(a for a in (settings.miniprogram.app_id, settings.wechat.app_id, pay.appid) if a)
    return SandboxPayConfig(
        mchid=pay.mchid,
        appids=appids,
        merchant_public_key=public_key_pem_of(
            _read_key(pay.merchant_private_key_path, "pay.merchant_private_key_path")
        ),
        merchant_cert_serial_no=pay.merchant_cert_serial_no,
        apiv3_key=pay.apiv3_key.get_secret_value(),
        platform_private_key=_read_key(platform_key_path, "sandbox.pay_platform_private_key_path"),
        platform_public_key_id=pay.platform_public_key_id,
    )


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
        merchant_private_key=_read_key(pay.merchant_private_key_path, "pay.merchant_private_key_path"),
        merchant_cert_serial_no=pay.merchant_cert_serial_no,
        platform_public_key=_read_key(pay.platform_public_key_path, "pay.platform_public_key_path"),
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


def _read_key(path: Path, setting: str) -> str:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.__class__.__name__}") from None
    if "-----BEGIN" not in text:
        raise SettingsError(f"{setting}: {path} is not a PEM file")
    return text
