"""Access-token storage shared by every process (wechatpy's SessionStorage contract).

WeChat issues one access token per account and a new fetch retires the old one (it stays valid for
5 minutes more), so processes must share it: in Redis when the deployment has one, otherwise in the
database. Each store also offers a lock shared by every process (`try_lock` / `unlock`), so that when
the token runs out one process fetches the next and the others wait for it and reuse it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, cast, runtime_checkable

from sqlalchemy import String, Table, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker
from wechatpy.session import SessionStorage

from storage.clock import utcnow
from storage.db import Base, UTCDateTime, transaction
from storage.sql import dialect_insert


class CacheEntry(Base):
    """Small shared values with an expiry (access tokens), for deployments without Redis."""

    __tablename__ = "cache_entries"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Refresh a little early so a token never expires between our check and WeChat's.
EXPIRY_MARGIN_S = 120


@runtime_checkable
class SharedLock(Protocol):
    """A lock every process of the deployment sees, held for at most `lease_s` (a holder that dies
    mid-refresh blocks the others no longer than that)."""

    def try_lock(self, name: str, holder: str, lease_s: float) -> bool: ...

    def unlock(self, name: str, holder: str) -> None: ...


class DatabaseTokenStore(SessionStorage):  # type: ignore[misc]
    def __init__(self, factory: sessionmaker[Session], prefix: str = "wechat:") -> None:
        self._factory = factory
        self._prefix = prefix

    def get(self, key: str, default: Any = None) -> Any:
        with transaction(self._factory) as session:
            entry = session.get(CacheEntry, self._prefix + key)
            if entry is None or (entry.expires_at is not None and entry.expires_at <= utcnow()):
                return default
            return entry.value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        expires_at = utcnow() + timedelta(seconds=max(ttl - EXPIRY_MARGIN_S, 1)) if ttl else None
        row = {"key": self._prefix + key, "value": str(value), "expires_at": expires_at}
        with transaction(self._factory) as session:
            # An upsert, not read-then-insert: processes that fetched a token at the same moment
            # would otherwise race to insert the same key, and all but one would fail.
            upsert = dialect_insert(session, cast(Table, CacheEntry.__table__)).values(**row)
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[CacheEntry.key], set_={"value": row["value"], "expires_at": expires_at}
                )
            )

    def delete(self, key: str) -> None:
        with transaction(self._factory) as session:
            session.execute(delete(CacheEntry).where(CacheEntry.key == self._prefix + key))

    def try_lock(self, name: str, holder: str, lease_s: float) -> bool:
        """Take the lock row if it is free or its lease has passed: one upsert decides, on SQLite (whose
        writers queue) and on PostgreSQL (a second upsert waits for the first, then finds it unexpired)."""
        key, now = self._prefix + "lock:" + name, utcnow()
        until = now + timedelta(seconds=lease_s)
        with transaction(self._factory) as session:
            upsert = dialect_insert(session, cast(Table, CacheEntry.__table__)).values(
                key=key, value=holder, expires_at=until)
            session.execute(upsert.on_conflict_do_update(
                index_elements=[CacheEntry.key], set_={"value": holder, "expires_at": until},
                where=CacheEntry.expires_at <= now,
            ))
            return session.scalar(select(CacheEntry.value).where(CacheEntry.key == key)) == holder

    def unlock(self, name: str, holder: str) -> None:
        with transaction(self._factory) as session:
            session.execute(delete(CacheEntry).where(CacheEntry.key == self._prefix + "lock:" + name,
                                                     CacheEntry.value == holder))


class RedisTokenStore(SessionStorage):  # type: ignore[misc]
    def __init__(self, url: str, prefix: str = "chatshop:wechat:") -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def get(self, key: str, default: Any = None) -> Any:
        value = self._redis.get(self._prefix + key)
        return default if value is None else value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if value is None:
            return
        expire = max(ttl - EXPIRY_MARGIN_S, 1) if ttl else None
        self._redis.set(self._prefix + key, str(value), ex=expire)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)

    def try_lock(self, name: str, holder: str, lease_s: float) -> bool:
        return bool(self._redis.set(self._prefix + "lock:" + name, holder, nx=True, px=max(1, int(lease_s * 1000))))

    def unlock(self, name: str, holder: str) -> None:
        # Only the holder's own lock: one whose lease passed may be another process's by now.
        self._redis.eval(UNLOCK_SCRIPT, 1, self._prefix + "lock:" + name, holder)


UNLOCK_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
