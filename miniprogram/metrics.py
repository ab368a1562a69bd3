"""Prometheus metrics of the mini-program API (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

from web.metrics import REGISTRY

LOGINS = Counter("chatshop_mp_logins", "Mini-program logins by result", ["result"], registry=REGISTRY)
CHECKOUTS = Counter("chatshop_mp_checkouts", "Checkouts by result", ["result"], registry=REGISTRY)
