"""Customer tags mirrored to the Official Account's user tags, for WeChat's own targeting.

A scheduler job compares each follower's live tags with what WeChat carries (`customer_tags.on_wechat`)
and changes WeChat where they differ: a missing tag is created (tags/create; the id is kept per name
in `wechat_tag_ids`), followers are tagged and untagged with members/batchtagging and batchuntagging,
at most 50 openids a call. Every step is recorded as soon as WeChat has accepted it, so a run that
dies half-way resumes where it stopped and a run with nothing to change calls nothing; a tag created
on WeChat whose id was never recorded is found again by name (tags/get) rather than created twice.

WeChat's limits are checked before calling it: at most 100 tags on the account (45056) and 20 on a
follower (45059). A change over a limit is not sent; the refusal is recorded on the customer's tag
(`sync_refusal`) and the tag is left alone until it is set again. WeChat is never called inside a
database transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, not_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.customers.tag_models import CustomerTag, WeChatTagId
from bot.customers.tags import is_live
from bot.models import Channel, Customer
from storage.clock import utcnow
from storage.db import transaction
from wechat.errors import WeChatApiError
from wechat.tags import MAX_OPENIDS_PER_CALL, TagsApi

log = logging.getLogger(__name__)

MAX_ACCOUNT_TAGS = 100  # 45056
MAX_TAGS_PER_USER = 20  # 45059
ACCOUNT_FULL = "45056: the Official Account already has 100 tags; this one was not created"
USER_FULL = "45059: this follower already has 20 tags on WeChat; this one was not applied"


@dataclass(frozen=True)
class Pending:
    """One customer tag whose WeChat state differs from whether it counts."""

    tag_id: int
    customer_id: int
    openid: str
    name: str
    add: bool  # True: WeChat should carry it; False: WeChat should drop it


def sync_wechat_tags(factory: sessionmaker[Session], tags: TagsApi, *, now: datetime | None = None,
                     limit: int = 1000) -> int:
    """One round of the sync; how many calls to WeChat changed something."""
    now = now or utcnow()
    pending = _pending(factory, now, limit)
    if not pending:
        return 0
    removals = [p for p in pending if not p.add]
    additions = [p for p in pending if p.add]
    calls = _untag(factory, tags, removals)
    ids, created = _tag_ids(factory, tags, {p.name for p in additions}, now)
    calls += created
    calls += _tag(factory, tags, additions, ids)
    return calls


def _pending(factory: sessionmaker[Session], now: datetime, limit: int) -> list[Pending]:
    live = is_live(now)
    differs = or_(and_(live, not_(CustomerTag.on_wechat)), and_(not_(live), CustomerTag.on_wechat))
    query = (
        select(CustomerTag.id, CustomerTag.customer_id, Customer.openid, CustomerTag.name, live)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(Customer.channel == Channel.OA, differs, CustomerTag.sync_refusal.is_(None))
        .order_by(CustomerTag.id).limit(limit)
    )
    with factory() as session:
        return [Pending(row[0], row[1], row[2], row[3], bool(row[4])) for row in session.execute(query)]


def _untag(factory: sessionmaker[Session], tags: TagsApi, removals: list[Pending]) -> int:
    with factory() as session:
        ids = dict(session.execute(select(WeChatTagId.name, WeChatTagId.wechat_id)).tuples().all())
    calls = 0
    for name, batch in _batches(removals):
        if name in ids:  # without an id WeChat never had it: only the flag is wrong
            try:
                tags.untag_users(ids[name], [p.openid for p in batch])
                calls += 1
            except WeChatApiError as exc:
                _refuse(factory, batch, f"{exc.errcode}: WeChat refused batchuntagging: {exc.errmsg}")
                continue
        _mark(factory, batch, on_wechat=False)
    return calls


def _tag_ids(
    factory: sessionmaker[Session], tags: TagsApi, names: set[str], now: datetime
) -> tuple[dict[str, int], int]:
    """The WeChat id of each name (created where missing and the account has room); calls made."""
    with factory() as session:
        ids = dict(session.execute(select(WeChatTagId.name, WeChatTagId.wechat_id)).tuples().all())
    missing = sorted(names - set(ids))
    if not missing:
        return ids, 0
    on_account = {tag.name: tag.id for tag in tags.all()}
    room = MAX_ACCOUNT_TAGS - len(on_account)
    calls = 0
    for name in missing:
        if name in on_account:  # created by an earlier run that died before recording it
            ids[name] = on_account[name]
        elif room > 0:
            try:
                ids[name] = tags.create(name).id
            except WeChatApiError as exc:
                log.warning("WeChat refused to create tag %s: errcode %s", name, exc.errcode)
                continue
            calls, room = calls + 1, room - 1
        else:
            continue
        with transaction(factory) as session:
            session.add(WeChatTagId(name=name, wechat_id=ids[name], created_at=now))
    return ids, calls


def _tag(factory: sessionmaker[Session], tags: TagsApi, additions: list[Pending], ids: dict[str, int]) -> int:
    room = _room_per_follower(factory, {p.customer_id for p in additions})
    calls = 0
    for name, batch in _batches(additions):
        if name not in ids:
            _refuse(factory, batch, ACCOUNT_FULL)
            continue
        fits = [p for p in batch if room[p.customer_id] > 0]
        _refuse(factory, [p for p in batch if room[p.customer_id] <= 0], USER_FULL)
        if not fits:
            continue
        try:
            tags.tag_users(ids[name], [p.openid for p in fits])
        except WeChatApiError as exc:
            _refuse(factory, fits, f"{exc.errcode}: WeChat refused batchtagging: {exc.errmsg}")
            continue
        calls += 1
        for p in fits:
            room[p.customer_id] -= 1
        _mark(factory, fits, on_wechat=True)
    return calls


def _room_per_follower(factory: sessionmaker[Session], customers: set[int]) -> defaultdict[int, int]:
    """How many more tags WeChat takes on each follower, by what we have put there (removals done)."""
    room: defaultdict[int, int] = defaultdict(lambda: MAX_TAGS_PER_USER)
    if not customers:
        return room
    query = (select(CustomerTag.customer_id, func.count()).where(CustomerTag.customer_id.in_(customers),
                                                                CustomerTag.on_wechat)
             .group_by(CustomerTag.customer_id))
    with factory() as session:
        for customer, carried in session.execute(query).tuples():
            room[customer] = MAX_TAGS_PER_USER - int(carried)
    return room


def _batches(pending: Iterable[Pending]) -> list[tuple[str, list[Pending]]]:
    """The pending changes by tag name, at most MAX_OPENIDS_PER_CALL followers in each batch."""
    by_name: defaultdict[str, list[Pending]] = defaultdict(list)
    for p in pending:
        by_name[p.name].append(p)
    return [(name, group[i:i + MAX_OPENIDS_PER_CALL])
            for name, group in sorted(by_name.items()) for i in range(0, len(group), MAX_OPENIDS_PER_CALL)]


def _mark(factory: sessionmaker[Session], batch: list[Pending], *, on_wechat: bool) -> None:
    with transaction(factory) as session:
        session.execute(update(CustomerTag).where(CustomerTag.id.in_([p.tag_id for p in batch]))
                        .values(on_wechat=on_wechat, sync_refusal=None))


def _refuse(factory: sessionmaker[Session], batch: list[Pending], reason: str) -> None:
    if not batch:
        return
    log.warning("tag sync: %s (%s, %d followers)", reason, batch[0].name, len(batch))
    with transaction(factory) as session:
        session.execute(update(CustomerTag).where(CustomerTag.id.in_([p.tag_id for p in batch]))
                        .values(sync_refusal=reason[:160]))
