"""A payment opens the payer's customer-service window: for 48 hours WeChat lets the store send them
any number of messages. The commerce core's `order_paid` events say who paid; each opens (resets) the
payer's mini-program window as of the payment, once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.config import WindowRule
from bot.conversation import customer_id
from bot.models import Channel, WindowAction
from bot.windows import open_window
from commerce.outbox import claim_events
from commerce.states import EventKind
from storage.clock import utcnow
from storage.db import transaction

CONSUMER = "bot_payment_windows"


def open_payment_windows(
    factory: sessionmaker[Session], *, rules: Mapping[WindowAction, WindowRule], now: datetime | None = None,
    limit: int = 100,
) -> int:
    """Open the window of every payer not yet seen; how many payments it read."""
    with transaction(factory) as session:
        events = claim_events(session, consumer=CONSUMER, kinds=[EventKind.ORDER_PAID], limit=limit, now=now)
        for event in events:
            if event.openid:  # the mini-program openid that paid
                payer = customer_id(session, channel=Channel.MP, openid=event.openid, now=now or utcnow())
                open_window(session, customer_id=payer, action=WindowAction.PAYMENT, rules=rules,
                            now=event.created_at)
    return len(events)
