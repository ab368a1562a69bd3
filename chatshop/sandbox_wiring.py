"""The sandbox's side of the wiring: the credentials it generates for the demo, and its config.

With the sandbox on, unset account credentials are filled with the sandbox's, generated once under
var/ (mode 600), and every unset pay setting with a sandbox merchant: a merchant key pair, a platform
key pair, an APIv3 key and a mchid. The pay client then talks to the sandbox's gateway at
/sandbox/pay/, which verifies the merchant's signatures and signs with the platform key.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from chatshop.accounts import WEBHOOK_PATHS, accounts, window_rules
from chatshop.pay_wiring import is_configured, read_key
from chatshop.settings import SandboxMode, Settings
from wechat_sandbox import SandboxAccount, SandboxConfig, SandboxRules
from wechat_sandbox.pay import SandboxPayConfig, new_rsa_key_pem, public_key_pem_of

SANDBOX_GATEWAY_PATH = "/sandbox/pay/"


def with_sandbox_credentials(settings: Settings) -> Settings:
    """Fill unset account credentials with the sandbox's, generated once and kept under var/.

    Only used when the sandbox is on: the demo then needs no secrets at all, and none are committed.
    """
    creds = _load_or_create_sandbox_credentials(settings.sandbox.credentials_path)
    # Filled-in credentials would read as "configured": pin the sandbox on so `auto` stays decided.
    wechat = settings.wechat.model_copy(update={"sandbox": SandboxMode.ON})
    filled = settings.model_copy(
        update={
            "wechat": _fill_account(wechat, creds["oa"]),
            "miniprogram": _fill_account(settings.miniprogram, creds["mp"]),
        }
    )
    # The WeChat Pay merchant is a sandbox credential too.
    return with_sandbox_pay(filled)


def _fill_account(account: Any, creds: Mapping[str, str]) -> Any:
    update: dict[str, Any] = {}
    for key in ("app_id", "original_id"):
        if not getattr(account, key):
            update[key] = creds[key]
    for key in ("app_secret", "token", "encoding_aes_key"):
        if not getattr(account, key).get_secret_value():
            update[key] = SecretStr(creds[key])
    return account.model_copy(update=update)


def _load_or_create_sandbox_credentials(path: Path) -> dict[str, dict[str, str]]:
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    creds = {"oa": _new_sandbox_account("oa"), "mp": _new_sandbox_account("mp")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(creds, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return creds


def _new_sandbox_account(kind: str) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "app_id": "wx" + secrets.token_hex(8),
        "original_id": f"gh_{kind}{secrets.token_hex(5)}",
        "app_secret": secrets.token_hex(16),
        "token": "".join(secrets.choice(alphabet) for _ in range(32)),
        "encoding_aes_key": "".join(secrets.choice(alphabet) for _ in range(43)),
    }


def with_sandbox_pay(settings: Settings) -> Settings:
    """Fill unset pay settings with the sandbox merchant's (generated once under var/, and only when a
    setting needs it: a store that set its own merchant gets no sandbox keys made)."""
    var = settings.sandbox.credentials_path.parent
    pay = settings.pay
    merchant: dict[str, str] = {}

    def sandbox_merchant(key: str) -> str:
        if not merchant:
            merchant.update(_load_or_create_sandbox_merchant(var))
        return merchant[key]

    update: dict[str, Any] = {}
    for key in ("mchid", "merchant_cert_serial_no", "platform_public_key_id"):
        if not getattr(pay, key):
            update[key] = sandbox_merchant(key)
    if not pay.apiv3_key.get_secret_value():
        update["apiv3_key"] = SecretStr(sandbox_merchant("apiv3_key"))
    if pay.merchant_private_key_path is None:
        update["merchant_private_key_path"] = var / sandbox_merchant("merchant_private_key_file")
    if pay.platform_public_key_path is None:
        update["platform_public_key_path"] = var / sandbox_merchant("platform_public_key_file")
    if not pay.api_base_url:
        update["api_base_url"] = settings.local_base_url + SANDBOX_GATEWAY_PATH
    sandbox = settings.sandbox
    if sandbox.pay_platform_private_key_path is None:
        platform_key = var / sandbox_merchant("platform_private_key_file")
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
            read_key(pay.merchant_private_key_path, "pay.merchant_private_key_path")
        ),
        merchant_cert_serial_no=pay.merchant_cert_serial_no,
        apiv3_key=pay.apiv3_key.get_secret_value(),
        platform_private_key=read_key(platform_key_path, "sandbox.pay_platform_private_key_path"),
        platform_public_key_id=pay.platform_public_key_id,
    )


def sandbox_config(settings: Settings) -> SandboxConfig:
    """The double serves the same accounts and the same configured rules as the product expects."""
    m = settings.messenger
    windows = {action.value: (rule.seconds, rule.quota) for action, rule in window_rules(m).items()}
    rules = SandboxRules(windows=windows, typing_exchange_s=m.typing_exchange_s, typing_lasts_s=m.typing_lasts_s)
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
