"""Prometheus metrics of the mini-program API and the pay notification endpoints (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from bot.metrics import REGISTRY

LOGINS = Counter("chatshop_mp_logins", "Mini-program logins by result", ["result"], registry=REGISTRY)
CHECKOUTS = Counter("chatshop_mp_checkouts", "Checkouts by result", ["result"], registry=REGISTRY)
PAY_NOTIFICATIONS = Counter(
    "chatshop_pay_notifications",
    "WeChat Pay notifications by kind (payment, refund) and outcome (applied, duplicate, mismatch, forged, ...)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
ADMIN_AUTH_FAILURES = Counter(
    "chatshop_admin_auth_failures", "Refused /admin/ requests by reason", ["reason"], registry=REGISTRY
)
