"""/docs (Swagger UI) and /redoc in headless Chromium that may reach this machine only: every request
to another host is refused, so a page that still loaded its scripts or styles from a CDN would not
render. Needs what test_sandbox_page.py needs (Python Playwright, Debian's Chromium)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, Route, expect

import tests.browser.test_sandbox_page as sandbox_page_tests
from tests.support import LiveServer

page = sandbox_page_tests.page  # headless Chromium (skipped without it locally, failed in CI)

THIS_MACHINE = {"127.0.0.1", "localhost", "::1"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def offline(page: Page) -> list[tuple[str, str]]:
    """Refuse every request that would leave this machine; returns the list of what was refused."""
    refused: list[tuple[str, str]] = []

    def only_this_machine(route: Route, request: Request) -> None:
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in THIS_MACHINE:
            refused.append((request.resource_type, request.url))
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_this_machine)
    return refused


def operations(server: LiveServer) -> list[tuple[str, str, str]]:
    """(method, path, summary) of every operation the OpenAPI spec documents."""
    with server.client() as http:
        spec = http.get("/openapi.json").json()
    return [(method, path, operation["summary"]) for path, item in spec["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS]


def test_swagger_ui_renders_every_operation_offline(page: Page, server: LiveServer) -> None:
    refused = offline(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    documented = operations(server)
    assert ("post", "/mp/login", "Exchange a wx.login() code for a token") in documented
    try:
        page.goto(server.base_url + "/docs")
        expect(page.locator(".information-container .title")).to_contain_text("chatshop")
        blocks = page.locator(".opblock")
        expect(blocks).to_have_count(len(documented))
        login = blocks.filter(has=page.locator(".opblock-summary-path[data-path='/mp/login']"))
        expect(login.locator(".opblock-summary-method")).to_have_text("POST")
        expect(login.locator(".opblock-summary-description")).to_have_text("Exchange a wx.login() code for a token")
        # Opening an operation shows its documentation, the sandbox's login codes here
        login.locator(".opblock-summary").click()
        expect(login.locator(".opblock-body")).to_contain_text("sandbox:<openid>:<nonce>")
    finally:
        page.screenshot(path=Path("/tmp") / "chatshop-docs.png")
    assert refused == [] and errors == []


def test_redoc_renders_every_operation_offline(page: Page, server: LiveServer) -> None:
    refused = offline(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    documented = operations(server)
    try:
        page.goto(server.base_url + "/redoc")
        expect(page.locator("h1").first).to_contain_text("chatshop")
        sections = page.locator("[data-section-id^='operation/']")  # one per operation, in its tag's section
        expect(sections).to_have_count(len(documented))
        for _, _, summary in documented:
            expect(sections.locator("h2", has_text=summary).first).to_be_attached()
        login = sections.filter(has=page.locator("h2", has_text="Exchange a wx.login() code for a token"))
        expect(login).to_contain_text("sandbox:<openid>:<nonce>")
        expect(login).to_contain_text("/mp/login")
    finally:
        # The viewport only: a full-page picture of every operation takes longer than the test itself.
        page.screenshot(path=Path("/tmp") / "chatshop-redoc.png")
    # Redoc's own "Redocly" badge is an image from its CDN, which hides itself when it cannot load;
    # nothing the page needs may come from elsewhere.
    assert [(kind, url) for kind, url in refused if kind != "image"] == [] and errors == []
