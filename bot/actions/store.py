"""What the store's actions reach, in a module of its own so the actions can name it without importing
the registry that imports them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.desk import HandoffDesk
from bot.models import Channel
from intents.search import SearchTerms
from storage.clock import utcnow
from wechat.client import WeChatClient
from wechat.pay import WeChatPay


@dataclass(frozen=True)
class Store:
    """What the store's actions reach: the commerce core's database, WeChat Pay, and WeChat's API."""

    factory: sessionmaker[Session]
    pay: WeChatPay | None = None  # None: WeChat Pay is not configured (an unpaid order is still cancelled)
    wechat: Mapping[Channel, WeChatClient] = field(default_factory=dict)  # thumbnails for cards
    mp_app_id: str = ""  # the store's mini-program, which product cards open
    terms: SearchTerms = field(default_factory=SearchTerms)  # a customer's words as catalog search terms
    clock: Callable[[], datetime] = utcnow
    handoff: HandoffDesk | None = None  # None: asking for a person only marks the dialogue state
