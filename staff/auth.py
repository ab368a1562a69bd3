"""The staff API key: `Authorization: Bearer <key>` or `X-Api-Key: <key>`, compared in constant time."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from fastapi import Request

from staff.config import AdminConfig
from staff.errors import AdminDisabled
from staff.metrics import ADMIN_AUTH_FAILURES
from web.errors import Unauthorized

log = logging.getLogger(__name__)


def admin_key_dependency(config: AdminConfig) -> Callable[[Request], None]:
    expected = config.api_key.encode("utf-8")

    def require_admin_key(request: Request) -> None:
        if not expected:
            ADMIN_AUTH_FAILURES.labels(reason="disabled").inc()
            raise AdminDisabled("admin API disabled: set CHATSHOP__ADMIN__API_KEY to enable it")
        offered = _offered_key(request)
        if offered is None:
            ADMIN_AUTH_FAILURES.labels(reason="missing").inc()
            raise Unauthorized("missing API key (Authorization: Bearer <key> or X-Api-Key: <key>)")
        if not hmac.compare_digest(offered.encode("utf-8"), expected):
            ADMIN_AUTH_FAILURES.labels(reason="wrong").inc()
            log.warning("admin request with a wrong API key from %s", request.client.host if request.client else "?")
            raise Unauthorized("wrong API key")

    return require_admin_key


def _offered_key(request: Request) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None
