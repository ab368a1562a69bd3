"""Prometheus metrics of the staff API (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from web.metrics import REGISTRY

ADMIN_AUTH_FAILURES = Counter(
    "chatshop_admin_auth_failures", "Refused /admin/ requests by reason", ["reason"], registry=REGISTRY
)
