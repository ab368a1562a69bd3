"""Customer tags: the only ways in are `tag_customer` and `untag_customer`, each writing an audit row.

Tags hang on customer rows, and a tag is put on (or taken off) every row of the person at once, the
rows WeChat's unionid joins (`customer_conversations`). Why rows and not a person table: a customer
whose unionid is not known yet (a follower WeChat has not told us about, a buyer whose mini-program is
not bound to the open platform) must still be taggable; WeChat's user tags, which the sync mirrors,
belong to one Official Account openid, so the sync needs per-row state anyway; and listing customers
by tag stays one indexed EXISTS per tag on the row. Writing to every joined row keeps the person's
tags the same on each channel, so a tag set from the Official Account chat is removed by a payment
made in the mini-program.

A tag counts while it is not removed and not past its `expires_at`; expiry needs no job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from bot.customers.errors import InvalidTag, UnknownCustomer
from bot.customers.people import customer_conversations
from bot.customers.tag_models import MAX_TAG_NAME_BYTES, CustomerTag, CustomerTagAudit, TagAction, TagSource
from bot.models import Customer

REFRESH_STEP = timedelta(hours=1)


def check_tag_name(name: str) -> str:
    """The name as stored; InvalidTag when WeChat could not carry it."""
    stripped = name.strip()
    if not stripped:
        raise InvalidTag("a tag needs a name")
    if len(stripped.encode("utf-8")) > MAX_TAG_NAME_BYTES:
        raise InvalidTag(f"tag name {stripped!r} is longer than {MAX_TAG_NAME_BYTES} bytes", name=stripped)
    return stripped


def is_live(now: datetime) -> ColumnElement[bool]:
    """The tags that count at `now`: not removed, not expired."""
    return and_(CustomerTag.removed_at.is_(None),
                or_(CustomerTag.expires_at.is_(None), CustomerTag.expires_at > now))


def tag_customer(
    session: Session, customer_id: int, *, name: str, source: TagSource, set_by: str, now: datetime,
    group: str = "", expires_at: datetime | None = None,
) -> int:
    """Put a tag on the person behind `customer_id` (each of their customer rows); how many rows changed.

    Setting a live tag again with the same group and source, and an expiry within REFRESH_STEP of its
    own, changes nothing and writes no audit row.
    """
    checked = check_tag_name(name)
    changed = 0
    for customer in _rows_of_person(session, customer_id):
        existing = session.scalar(select(CustomerTag).where(CustomerTag.customer_id == customer.id,
                                                            CustomerTag.name == checked))
        if existing is None:
            session.add(CustomerTag(customer_id=customer.id, name=checked, group=group, source=source,
                                    set_by=set_by[:64], set_at=now, expires_at=expires_at, on_wechat=False))
        elif _unchanged(existing, now, group, source, expires_at):
            continue
        else:
            existing.group, existing.source, existing.set_by = group, source, set_by[:64]
            existing.set_at, existing.expires_at, existing.removed_at = now, expires_at, None
            existing.sync_refusal = None
        _audit(session, customer.id, checked, TagAction.ADD, source, set_by, now, expires_at)
        changed += 1
    return changed


def untag_customer(
    session: Session, customer_id: int, *, name: str, source: TagSource, set_by: str, now: datetime
) -> int:
    """Take a tag off the person behind `customer_id`; how many rows carried it (0: none did)."""
    removed = 0
    for customer in _rows_of_person(session, customer_id):
        tag = session.scalar(select(CustomerTag).where(CustomerTag.customer_id == customer.id,
                                                       CustomerTag.name == name.strip(),
                                                       CustomerTag.removed_at.is_(None)))
        if tag is None:
            continue
        tag.removed_at = now
        tag.sync_refusal = None
        _audit(session, customer.id, tag.name, TagAction.REMOVE, source, set_by, now, None)
        removed += 1
    return removed


def customer_tags(session: Session, customer_id: int, *, now: datetime) -> list[CustomerTag]:
    """The tags that count on one customer row, by name."""
    query = select(CustomerTag).where(CustomerTag.customer_id == customer_id, is_live(now))
    return list(session.scalars(query.order_by(CustomerTag.name)))


def tag_history(session: Session, customer_id: int) -> list[CustomerTagAudit]:
    """The audit trail of one customer row's tags, oldest first."""
    query = select(CustomerTagAudit).where(CustomerTagAudit.customer_id == customer_id)
    return list(session.scalars(query.order_by(CustomerTagAudit.id)))


def _rows_of_person(session: Session, customer_id: int) -> list[Customer]:
    rows = customer_conversations(session, customer_id)
    if not rows:
        raise UnknownCustomer(f"no customer {customer_id}", customer_id=customer_id)
    return rows


def _unchanged(tag: CustomerTag, now: datetime, group: str, source: TagSource, expires_at: datetime | None) -> bool:
    live = tag.removed_at is None and (tag.expires_at is None or tag.expires_at > now)
    return live and tag.group == group and tag.source == source and _same_expiry(tag.expires_at, expires_at)


def _same_expiry(before: datetime | None, after: datetime | None) -> bool:
    # A rule sets "30 days from now" on every message that fires it; moving the expiry by less than
    # REFRESH_STEP is not worth a write and an audit row per message.
    if before is None or after is None:
        return before is after
    return abs(after - before) < REFRESH_STEP


def _audit(session: Session, customer_id: int, name: str, action: TagAction, source: TagSource, actor: str,
           at: datetime, expires_at: datetime | None) -> None:
    session.add(CustomerTagAudit(customer_id=customer_id, name=name, action=action, source=source,
                                 actor=actor[:64], at=at, expires_at=expires_at))
