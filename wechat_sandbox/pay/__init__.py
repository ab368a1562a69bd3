"""The sandbox's WeChat Pay: API v3 gateway, notifications with retries, control endpoints.

`build_pay(config, sandbox_state)` returns the state and the routers to include in the sandbox app.
"""

from __future__ import annotations

from fastapi import APIRouter

from ..state import Action, SandboxState
from .config import NOTIFY_RETRY_SCHEDULE_S, SandboxPayConfig
from .control import build_pay_control_router
from .gateway import build_gateway_router
from .notifier import Notifier
from .signing import NotificationSigner, PlatformSigner, new_rsa_key_pem, public_key_pem_of
from .state import PayState

__all__ = [
    "NOTIFY_RETRY_SCHEDULE_S",
    "NotificationSigner",
    "PayState",
    "PlatformSigner",
    "SandboxPayConfig",
    "build_pay",
    "new_rsa_key_pem",
    "public_key_pem_of",
]


def build_pay(config: SandboxPayConfig, sandbox: SandboxState) -> tuple[PayState, list[APIRouter]]:
    signer = NotificationSigner(
        platform_private_key=config.platform_private_key,
        platform_public_key_id=config.platform_public_key_id,
        apiv3_key=config.apiv3_key,
    )
    notifier = Notifier(
        signer, sandbox.now, retry_schedule_s=config.retry_schedule_s, timeout_s=config.notify_timeout_s
    )

    def payment_opens_window(appid: str, openid: str) -> None:
        # A payment opens the customer's 48 h customer-service window, as on WeChat.
        if appid in sandbox.accounts:
            sandbox.record_action(appid, openid, Action.PAYMENT)

    pay = PayState(config=config, clock=sandbox.now, notifier=notifier, on_paid=payment_opens_window)
    return pay, [build_gateway_router(pay, sandbox), build_pay_control_router(pay)]
