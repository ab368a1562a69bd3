"""Who may see a customer's personal data in full, and the audit of every time someone did.

The console shows names, phone numbers and addresses masked (commerce.personal). Supervisors and admins may
reveal one order's in full, saying why; each reveal is a `pii_reveals` row written in the transaction that
reads the data, so there is no look without its record. In conversations, agents see the mobile numbers
customers type masked; supervisors and admins see the messages as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.personal import mask_phones_in_text
from staff.models import PiiReveal
from staff.roles import Principal, Role

# Roles that may see personal data in full (through a reveal); agents see it masked.
REVEAL_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


def may_reveal(principal: Principal) -> bool:
    return principal.role in REVEAL_ROLES


def record_reveal(
    session: Session, *, principal: Principal, fields: Sequence[str], reason: str, now: datetime,
    order_no: str | None = None, customer_id: int | None = None,
) -> PiiReveal:
    row = PiiReveal(staff_id=principal.staff_id, username=principal.username, role=principal.role.value,
                    order_no=order_no, customer_id=customer_id, fields=list(fields), reason=reason.strip(), at=now)
    session.add(row)
    session.flush()
    return row


def recent_reveals(session: Session, *, limit: int, order_no: str | None = None) -> list[PiiReveal]:
    query = select(PiiReveal).order_by(PiiReveal.at.desc(), PiiReveal.id.desc()).limit(limit)
    if order_no is not None:
        query = query.where(PiiReveal.order_no == order_no)
    return list(session.scalars(query))


# Values that identify rather than say something: never rewritten, whatever digits they hold.
IDENTIFIERS = frozenset({"openid", "unionid", "order_no", "transaction_id", "tracking_no", "idempotency_key",
                         "out_refund_no", "refund_id", "sku_id", "product_id"})


def masked_for(principal: Principal, value: Any) -> Any:
    """What a staff member is shown of a conversation (messages, summaries, live updates): for agents, every
    mobile number in its text masked (138****0000); supervisors and admins see it as written."""
    return value if may_reveal(principal) else _mask_phones(value)


def _mask_phones(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        return value if key in IDENTIFIERS else mask_phones_in_text(value)
    if isinstance(value, dict):
        return {k: _mask_phones(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_phones(item, key) for item in value]
    return value
