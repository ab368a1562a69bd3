"""The 数据 page: overview, funnel, sources, repeat purchase, from daily aggregates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def add_analytics_routes(router: APIRouter, api: Any, auth: Any) -> None:
    """Adds this page's routes to the staff router."""
