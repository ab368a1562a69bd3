"""Prometheus metrics of the conversation layer, exposed by the app at GET /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from web.metrics import REGISTRY

MESSAGES_IN = Counter(
    "chatshop_messages_in", "Messages and events pushed by WeChat and accepted", ["channel", "kind"],
    registry=REGISTRY,
)
MESSAGES_OUT = Counter(
    "chatshop_messages_out", "Customer-service API sends by message kind and result", ["kind", "result"],
    registry=REGISTRY,
)
REPLIES = Counter(
    "chatshop_replies",
    "Webhook answers by kind: a passive reply's msgtype, deferred (success, sent later), "
    "duplicate (a retry answered from the store), none (nothing to say)",
    ["channel", "kind"],
    registry=REGISTRY,
)
WEBHOOK_ERRORS = Counter(
    "chatshop_webhook_errors",
    "Refused or failed webhook requests by reason; stale_claim: a delivery died before answering "
    "and a retry took its claim over",
    ["channel", "reason"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "chatshop_webhook_latency_seconds", "Time from request to webhook answer", ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 4.0, 5.0),
    registry=REGISTRY,
)


def record_outbound(kind: str, result: str) -> None:
    MESSAGES_OUT.labels(kind=kind, result=result).inc()
PAY_NOTIFICATIONS = Counter(
    "chatshop_pay_notifications",
    "WeChat Pay notifications by kind (payment, refund) and outcome (applied, duplicate, mismatch, forged, ...)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
