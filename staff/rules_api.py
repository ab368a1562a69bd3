"""Tag rules and skill groups, read-only, with their last reload and any error."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def add_rules_routes(router: APIRouter, api: Any, auth: Any) -> None:
    """Adds this page's routes to the staff router."""
