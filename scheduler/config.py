"""Typed settings of the background jobs, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulerConfig:
    enabled: bool = True
    expire_interval_s: float = 30.0  # how often unpaid orders past expires_at are closed and cancelled
    reconcile_interval_s: float = 60.0  # how often WeChat Pay is asked about silent orders and refunds
    reconcile_after_s: int = 300  # a pending order (or processing refund) this old is asked about
    refund_retry_interval_s: float = 60.0  # how often refunds whose submission got no answer are resent
    advance_interval_s: float = 3600.0  # how often shipped/delivered orders are moved on by age
    auto_deliver_days: int = 10  # a shipped order counts as delivered after this many days
    auto_complete_days: int = 7  # a delivered order is completed after this many days
    lease_ttl_s: float = 30.0  # a job's lease lasts this long unrenewed: a dead process's jobs move within it
