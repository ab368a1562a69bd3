"""Payment alerts: money matters staff must look at, recorded once however often they recur."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.clock import utcnow
from storage.sql import insert_ignoring_conflicts

from .models import PaymentAlert
from .outbox import record_event
from .states import EventKind

log = logging.getLogger(__name__)


def raise_alert(
    session: Session, *, kind: str, key: str, detail: str, order_no: str | None = None,
    transaction_id: str | None = None, now: datetime | None = None,
) -> bool:
    """Record an alert unless one with the same key exists; True when this call recorded it."""
    now = now or utcnow()
    inserted = session.execute(
        insert_ignoring_conflicts(session, PaymentAlert.__table__)  # type: ignore[arg-type]
        .values(dedupe_key=key[:160], kind=kind, order_no=order_no, transaction_id=transaction_id,
                detail=detail, created_at=now)
        .returning(PaymentAlert.id)
    ).first()
    if inserted is None:
        return False
    log.warning("payment alert %s (order %s): %s", kind, order_no, detail)
    record_event(session, EventKind.PAYMENT_ALERT, order_no=order_no, now=now,
                 payload={"kind": kind, "detail": detail, "transaction_id": transaction_id})
    return True


def open_alerts(session: Session, *, limit: int = 100) -> list[PaymentAlert]:
    query = select(PaymentAlert).where(PaymentAlert.resolved_at.is_(None)).order_by(PaymentAlert.id.desc())
    return list(session.scalars(query.limit(limit)))
