"""The one Prometheus registry every package's metrics join, served by the app at GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

REGISTRY = CollectorRegistry(auto_describe=True)
