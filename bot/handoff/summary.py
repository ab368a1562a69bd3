"""What an agent needs to know when a conversation reaches them, as plain JSON: why it was handed over,
what the bot understood, the question it could not answer, the last messages, and the customer's tags,
cart and latest orders. The summary is stored with the handoff as it was at that moment; the staff API
also shows the customer's context as it is now (`customer_context`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.customers.people import customer_conversations
from bot.customers.tags import customer_tags
from bot.models import ConversationMessage
from commerce.cart import get_cart
from commerce.orders import recent_orders

SUMMARY_MESSAGES = 10
SUMMARY_ORDERS = 3


def build_summary(
    session: Session, *, customer_id: int, reason: str, intent: str, entities: Sequence[dict[str, str]],
    question: str, buyer_openids: Sequence[str], now: datetime,
) -> dict[str, Any]:
    return {
        "reason": reason,
        "intent": intent,
        "entities": [{"entity": e["entity"], "value": e["value"]} for e in entities],
        "question": question,
        "messages": last_messages(session, customer_id, SUMMARY_MESSAGES),
        **customer_context(session, customer_id=customer_id, buyer_openids=buyer_openids, now=now),
    }


def customer_context(
    session: Session, *, customer_id: int, buyer_openids: Sequence[str], now: datetime
) -> dict[str, Any]:
    """The customer's live tags, cart and latest orders (money in fen)."""
    return {
        "tags": [{"name": tag.name, "group": tag.group} for tag in customer_tags(session, customer_id, now=now)],
        "cart": _cart(session, buyer_openids),
        "orders": [
            {"order_no": order.order_no, "status": order.status, "amount_fen": order.amount_fen,
             "created_at": order.created_at.isoformat()}
            for order in recent_orders(session, openids=buyer_openids, limit=SUMMARY_ORDERS)
        ],
    }


def last_messages(session: Session, customer_id: int, limit: int) -> list[dict[str, Any]]:
    """The person's latest messages on every channel, oldest first, as a line of text each."""
    ids = [row.id for row in customer_conversations(session, customer_id)] or [customer_id]
    rows = session.scalars(
        select(ConversationMessage).where(ConversationMessage.customer_id.in_(ids))
        .order_by(ConversationMessage.created_at.desc(), ConversationMessage.id.desc()).limit(limit)
    ).all()
    return [message_line(row) for row in reversed(rows)]


def message_line(row: ConversationMessage) -> dict[str, Any]:
    return {"direction": row.direction, "kind": row.kind, "text": message_text(row.kind, row.body),
            "at": row.created_at.isoformat()}


def message_text(kind: str, body: dict[str, Any]) -> str:
    """One line an agent can read for any stored message."""
    if kind == "text":
        return str(body.get("content", ""))
    if kind == "msgmenu":
        items = "；".join(str(item.get("content", "")) for item in body.get("items", []))
        return f"{body.get('head', '')} {items}".strip()
    if kind == "miniprogrampage":
        return f"[小程序卡片] {body.get('title', '')}".strip()
    if kind == "news":
        return f"[图文] {(body.get('articles') or [{}])[0].get('title', '')}".strip()
    if kind == "click":
        return f"[菜单] {body.get('event_key', '')}".strip()
    return f"[{kind}]"


def _cart(session: Session, buyer_openids: Sequence[str]) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    total = 0
    for openid in buyer_openids:
        cart = get_cart(session, openid=openid)
        total += cart.total_fen
        lines += [{"sku_id": line.sku_id, "title": line.title, "specs": line.specs, "price_fen": line.price_fen,
                   "quantity": line.quantity, "available": line.available} for line in cart.lines]
    return {"lines": lines, "total_fen": total}
