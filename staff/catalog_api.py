"""The catalog for the back office: products, SKUs, stock, import and export."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def add_catalog_routes(router: APIRouter, api: Any, auth: Any) -> None:
    """Adds this page's routes to the staff router."""
