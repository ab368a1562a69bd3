"""The simulated WeChat chat page at / (i.e. /sandbox when mounted): one self-contained file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE_FILE = Path(__file__).with_name("static") / "index.html"


@cache
def page_html() -> str:
    return PAGE_FILE.read_text(encoding="utf-8")


def build_page_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        # The page derives every URL from location.pathname, so it works standalone and under /sandbox.
        return HTMLResponse(page_html(), headers={"Cache-Control": "no-store"})

    return router
