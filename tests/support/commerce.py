"""Helpers for the commerce tests: fixtures by name, customers filling carts and checking out."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commerce.cart import add_to_cart
from commerce.models import Order, OrderEvent, OutboxEvent, Sku
from commerce.orders import place_order
from scheduler.jobs import CommerceJobs
from storage.clock import utcnow
from storage.db import transaction

FIXTURES = Path(__file__).parent.parent / "fixtures" / "commerce"


def fixture_path(name: str) -> Path:
    path = FIXTURES / name
    if not path.exists():
        raise FileNotFoundError(f"missing test fixture {path}")
    return path


def address() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(fixture_path("address.json").read_text(encoding="utf-8"))
    return loaded


def checkout(
    factory: sessionmaker[Session], openid: str, items: dict[str, int], *, now: datetime | None = None,
    ttl_s: int = 1800,
) -> str:
    """The customer fills the cart with `items` and places the order; returns the order number."""
    with transaction(factory) as session:
        for sku_id, quantity in items.items():
            add_to_cart(session, openid=openid, sku_id=sku_id, quantity=quantity)
        order = place_order(session, openid=openid, address=address(), now=now or utcnow(), ttl_s=ttl_s)
        return order.order_no


def stock_of(factory: sessionmaker[Session], sku_id: str) -> int:
    with factory() as session:
        return int(session.scalars(select(Sku.stock).where(Sku.sku_id == sku_id)).one())


def status_of(factory: sessionmaker[Session], order_no: str) -> str:
    with factory() as session:
        return str(session.scalars(select(Order.status).where(Order.order_no == order_no)).one())


def event_kinds(factory: sessionmaker[Session], order_no: str) -> list[str]:
    with factory() as session:
        query = select(OutboxEvent.kind).where(OutboxEvent.order_no == order_no).order_by(OutboxEvent.id)
        return list(session.scalars(query))


def transitions(factory: sessionmaker[Session], order_no: str) -> list[tuple[str | None, str]]:
    with factory() as session:
        rows = session.execute(
            select(OrderEvent.from_status, OrderEvent.to_status).where(OrderEvent.order_no == order_no)
            .order_by(OrderEvent.id)
        ).all()
        return [(a, b) for a, b in rows]


def statuses_around(factory: sessionmaker[Session], order_no: str, *, start: datetime, days: int) -> list[str]:
    """The order's status after the scheduler's advance_orders job (its default periods) runs just
    after `start`, just before `days` days after it, and just after that."""
    jobs = CommerceJobs(factory=factory, pay=None)
    seen = []
    for at in (start + timedelta(seconds=1), start + timedelta(days=days, seconds=-1),
               start + timedelta(days=days, seconds=1)):
        jobs.advance_orders(at)
        seen.append(status_of(factory, order_no))
    return seen


def run_at_once(work: Callable[[], None], workers: int, *, timeout_s: float = 60) -> None:
    """Run `work` in `workers` threads released at the same moment, and wait for them all."""
    barrier = threading.Barrier(workers)

    def released() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=released) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
