"""The merchant the sandbox's WeChat Pay gateway serves, and its platform keys."""

from __future__ import annotations

from dataclasses import dataclass, field

# WeChat Pay's documented retry schedule for a notification that is not acknowledged (seconds).
NOTIFY_RETRY_SCHEDULE_S: tuple[int, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)


@dataclass(frozen=True)
class SandboxPayConfig:
    """One direct merchant and the apps bound to it (WeChat Pay refuses an appid not bound: 400)."""

    mchid: str
    appids: tuple[str, ...]
    merchant_public_key: str  # PEM: verifies the merchant's Authorization signatures
    merchant_cert_serial_no: str
    apiv3_key: str = field(repr=False)  # 32 bytes: encrypts notification resources
    platform_private_key: str = field(repr=False)  # PEM: signs answers and notifications
    platform_public_key_id: str = "PUB_KEY_ID_SANDBOX"
    retry_schedule_s: tuple[int, ...] = NOTIFY_RETRY_SCHEDULE_S
    notify_timeout_s: float = 5.0
    max_auth_skew_s: int = 300  # an Authorization timestamp further from now is refused
    refunds_settle: bool = True  # False: refunds stay PROCESSING until a control call settles them
