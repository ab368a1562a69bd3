"""Configuration of the WeChat sandbox: the simulated accounts and the platform rules.

Every default mirrors /work/shared/WECHAT_RULES.md; tests shrink them when they need to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .pay.config import SandboxPayConfig

AccountKind = Literal["oa", "mp"]
MessageMode = Literal["plain", "compat", "safe"]


@dataclass(frozen=True)
class SandboxAccount:
    """One Official Account ("oa") or mini-program ("mp") hosted by the sandbox."""

    kind: AccountKind
    app_id: str
    app_secret: str
    token: str  # message-push token
    encoding_aes_key: str  # 43 chars
    original_id: str  # "gh_..." used as ToUserName in pushes
    webhook_url: str  # where message pushes go, e.g. http://127.0.0.1:8000/wechat
    message_mode: MessageMode = "safe"


WECHAT_WINDOWS: Mapping[str, tuple[int, int | None]] = MappingProxyType({
    "message": (48 * 3600, 5),  # the customer wrote to the Official Account
    "click": (60, 3),  # menu click, follow or QR-code scan
    "payment": (48 * 3600, None),  # a successful payment
    "mp_message": (48 * 3600, 5),  # the customer wrote in mini-program customer service
    "mp_enter": (60, 2),  # the customer entered the mini-program's service session
})


@dataclass(frozen=True)
class SandboxRules:
    """WeChat's limits; the defaults are the documented values."""

    # What each customer action opens: (window in seconds, sends allowed; None: unlimited).
    windows: Mapping[str, tuple[int, int | None]] = field(default_factory=lambda: dict(WECHAT_WINDOWS))
    token_ttl_s: int = 7200
    token_grace_s: int = 300
    typing_exchange_s: int = 30
    typing_lasts_s: int = 15
    max_tags: int = 100
    max_tags_per_user: int = 20
    batch_tagging_max: int = 50


@dataclass(frozen=True)
class SandboxConfig:
    accounts: tuple[SandboxAccount, ...]
    rules: SandboxRules = SandboxRules()
    push_timeout_s: float = 5.0  # WeChat drops the connection after 5 s ...
    push_tries: int = 3  # ... and tries 3 times in all
    pay: SandboxPayConfig | None = None  # the WeChat Pay merchant; None: no pay gateway
