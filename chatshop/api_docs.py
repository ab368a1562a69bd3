"""The API's documentation pages, /docs (Swagger UI) and /redoc, with their scripts and styles served by
chatshop itself from `vendor/` (released npm packages, pinned; see vendor/README.md) instead of FastAPI's
default CDN, so the pages work on a machine without internet access."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR = Path(__file__).resolve().parent / "vendor"
SWAGGER_UI = "swagger-ui-dist-5.35.0"
REDOC = "redoc-2.5.4"
ASSETS_PATH = "/docs/assets"


def add_api_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for `app`, which must be built with docs_url=None and redoc_url=None."""
    app.mount(ASSETS_PATH, StaticFiles(directory=VENDOR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        assets = _assets_url(request)
        return get_swagger_ui_html(
            openapi_url=_openapi_url(app, request), title=f"{app.title} API",
            swagger_js_url=f"{assets}/{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/{SWAGGER_UI}/favicon-32x32.png",
            oauth2_redirect_url=None,  # the APIs take bearer tokens and API keys, no OAuth2 flow
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        assets = _assets_url(request)
        return get_redoc_html(
            openapi_url=_openapi_url(app, request), title=f"{app.title} API",
            redoc_js_url=f"{assets}/{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/{SWAGGER_UI}/favicon-32x32.png",
            with_google_fonts=False,  # the fonts come from Google's servers; the page falls back to system fonts
        )


def _assets_url(request: Request) -> str:
    # Behind a proxy that mounts the service under a prefix, the browser must ask for the prefixed path.
    return request.scope.get("root_path", "").rstrip("/") + ASSETS_PATH


def _openapi_url(app: FastAPI, request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") + (app.openapi_url or "/openapi.json")
