"""Typed settings of the commerce core, built by the composition root and passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrdersConfig:
    order_ttl_s: int = 1800  # an unpaid order is closed and its stock released after this
    max_quantity: int = 99  # per cart line
    max_cart_lines: int = 50
    auto_deliver_days: int = 10  # a shipped order counts as delivered after this many days
    auto_complete_days: int = 7  # a delivered order is completed after this many days
