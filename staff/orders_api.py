"""Orders for the back office: list, search, the order page, ship, refund, decline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def add_order_routes(router: APIRouter, api: Any, auth: Any) -> None:
    """Adds this page's routes to the staff router."""
