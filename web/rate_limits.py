"""Request rate limits in front of the expensive or guessable operations (mini-program login, checkout, staff
login): at most N requests in a window from one client address, and at most M for one customer (or staff
username). Over a limit the request is refused with 429 RATE_LIMITED and `Retry-After`, before any work.

Counts are fixed windows that start at a key's first request (INCR, and EXPIRE on the first): in Redis when
the deployment has one, so that every process counts together, else in this process's memory. Keys hold a
hash of the address or customer, never the value itself. If Redis fails, requests are let through (a limit
is a brake, not a gate) and the failure is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request

from web.errors import ApiError
from web.json_api import ErrorBody

log = logging.getLogger(__name__)

MAX_MEMORY_KEYS = 100_000  # windows kept in memory; past it, expired ones are dropped first


class RateLimited(ApiError):
    """Too many requests; the message is for the customer, `retry_after` (also the Retry-After header) says
    how many seconds until the window frees."""

    code = "RATE_LIMITED"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"操作太频繁，请 {retry_after} 秒后再试", retry_after=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Rule:
    """One operation's limits: requests per `window_s` from one address and for one subject (0: none)."""

    per_address: int
    per_subject: int
    window_s: int = 60


class Counter(Protocol):
    def hit(self, key: str, window_s: int) -> tuple[int, float]:
        """Count one request under `key`: (requests in the key's window so far, seconds until it ends)."""


class MemoryCounter:
    """Windows in this process only (no Redis): each worker process counts on its own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_MEMORY_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, tuple[int, float]] = {}  # key → (count, when the window ends)
        self._lock = threading.Lock()

    def hit(self, key: str, window_s: int) -> tuple[int, float]:
        now = self._clock()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if ends <= now:
                if len(self._windows) >= self._max_keys:
                    self._forget_expired(now)
                count, ends = 0, now + window_s
            self._windows[key] = (count + 1, ends)
            return count + 1, ends - now

    def _forget_expired(self, now: float) -> None:
        expired = [key for key, (_, ends) in self._windows.items() if ends <= now]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self._max_keys:
            # Every window is live (a flood of addresses): the oldest go, so memory stays bounded.
            for key in list(self._windows)[: self._max_keys // 10]:
                del self._windows[key]


# INCR, and the window's expiry set by the request that opened it, in one atomic step; a key somehow left
# without an expiry gets one rather than limiting for ever.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisCounter:
    """Windows in Redis, shared by every process of the deployment."""

    def __init__(self, url: str, prefix: str, timeout_s: float = 0.5) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._script: Any = self._redis.register_script(_HIT_SCRIPT)
        self._prefix = prefix

    def hit(self, key: str, window_s: int) -> tuple[int, float]:
        count, ttl_ms = self._script(keys=[self._prefix + key], args=[window_s * 1000])
        return int(count), int(ttl_ms) / 1000

    def close(self) -> None:
        self._redis.close()


class RateLimits:
    """The limits of every rule, checked by the routes before they do any work."""

    def __init__(self, counter: Counter | None, rules: Mapping[str, Rule]) -> None:
        self._counter = counter  # None: no limits (turned off)
        self._rules = dict(rules)
        self._last_failure_log = 0.0

    def check(self, rule: str, *, address: str | None = None, subject: str | None = None,
              subject_kind: str = "customer") -> None:
        """Count this request; RATE_LIMITED when it is over the rule's limit for the address or the subject."""
        limits = self._rules.get(rule)
        if self._counter is None or limits is None:
            return
        for kind, value, limit in (("address", address, limits.per_address),
                                   (subject_kind, subject, limits.per_subject)):
            if value is not None and limit > 0:
                self._check_one(rule, kind, value, limit, limits.window_s)

    def _check_one(self, rule: str, kind: str, value: str, limit: int, window_s: int) -> None:
        assert self._counter is not None
        try:
            count, left_s = self._counter.hit(f"{rule}:{kind}:{_digest(value)}", window_s)
        except Exception as exc:  # Redis down or slow: let the request through
            self._log_failure(exc)
            return
        if count <= limit:
            return
        retry_after = max(1, math.ceil(left_s))
        if count == limit + 1:  # once per window, or a flood would flood the log too
            # `openid=`, so that the log filter masks a customer as it masks any openid
            shown = f"openid={value}" if kind == "customer" else value
            log.warning("rate limit %s: %s %s over %d requests in %d s; refused for %d s",
                        rule, kind, shown, limit, window_s, retry_after)
        raise RateLimited(retry_after)

    def _log_failure(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_failure_log >= 60:
            self._last_failure_log = now
            log.warning("rate limits not counted (requests let through): %s: %s", type(exc).__name__, exc)


def client_address(request: Request) -> str:
    """The peer's address: uvicorn has already put the X-Forwarded-For client in its place when the peer is
    one of its trusted proxies (--forwarded-allow-ips, FORWARDED_ALLOW_IPS; 127.0.0.1 unless set)."""
    return request.client.host if request.client else "unknown"


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=12).hexdigest()


def rate_limit_response(description: str) -> dict[int | str, dict[str, Any]]:
    """The 429 of a rate-limited route, for its OpenAPI `responses`."""
    return {429: {"model": ErrorBody, "description": description, "headers": {
        "Retry-After": {"description": "seconds until the request may be sent again", "schema": {"type": "integer"}},
    }}}
