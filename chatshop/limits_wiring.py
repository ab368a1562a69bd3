"""The request rate limits (web.rate_limits), from settings: counted in Redis when the deployment has one."""

from __future__ import annotations

from chatshop.settings import Settings
from web.rate_limits import MemoryCounter, RateLimits, RedisCounter, Rule


def rate_limits(settings: Settings) -> RateLimits:
    section = settings.rate_limits
    if not section.enabled:
        return RateLimits(None, {})
    redis = settings.redis
    counter = RedisCounter(redis.url, prefix=f"{redis.key_prefix}rate:") if redis.url else MemoryCounter()
    window = section.window_s
    return RateLimits(counter, {
        "mp_login": Rule(section.mp_login_per_address, section.mp_login_per_customer, window),
        "checkout": Rule(section.checkout_per_address, section.checkout_per_customer, window),
        "staff_login": Rule(section.staff_login_per_address, section.staff_login_per_username, window),
    })
