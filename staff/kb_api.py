"""The knowledge base for the back office: FAQs and phrasings, 试一试, unanswered questions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def add_kb_routes(router: APIRouter, api: Any, auth: Any) -> None:
    """Adds this page's routes to the staff router."""
