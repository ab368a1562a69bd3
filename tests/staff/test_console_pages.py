"""The console's pages over HTTP, without a browser: every response under /console carries the strict
security headers, the pages and their modules are served with the right types, nothing is loaded from
another origin and no page has an inline script or style (the CSP would block it)."""

from __future__ import annotations

import re

import httpx
import pytest

from staff.console import STATIC
from tests.staff.test_staff_api import log_in, make_staff
from tests.support import LiveServer

POLICY = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
    "connect-src": "'self'", "frame-ancestors": "'none'",
}
VENDORED_PREACT = "/console/static/vendor/htm-3.1.1/preact/standalone.module.js"


def policy_of(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def assert_secured(headers: httpx.Headers) -> None:
    csp = headers["content-security-policy"]
    directives = policy_of(csp)
    for name, value in POLICY.items():
        assert directives.get(name) == value, (name, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/console", "/console/login"])
def test_the_pages_are_html_with_the_security_headers_and_no_inline_code(server: LiveServer, path: str) -> None:
    make_staff(server, "wang")
    with server.client() as http:
        assert log_in(http, "wang").status_code == 200  # the console itself is for a signed-in session
        page = http.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert_secured(page.headers)
    html = page.text
    # Every script is a module file of this origin, every style a stylesheet of this origin
    assert re.findall(r"<script[^>]*>", html) and all(
        'src="/console/static/' in tag and 'type="module"' in tag for tag in re.findall(r"<script[^>]*>", html))
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handlers are blocked by the CSP"
    assert "http://" not in html and "https://" not in html  # no CDN


def test_the_console_without_a_session_goes_to_the_login_page(server: LiveServer) -> None:
    make_staff(server, "wang")
    with server.client() as http:
        page = http.get("/console", follow_redirects=False)
        me = http.get("/staff/api/me")
        assert page.status_code == 303 and page.headers["location"] == "/console/login"
        assert_secured(page.headers)
        assert "console.js" not in page.text
        assert me.status_code == 401 and me.json()["error"]["code"] == "NOT_SIGNED_IN"
        # and after a logout the console is closed again
        assert log_in(http, "wang").status_code == 200
        assert http.get("/console", follow_redirects=False).status_code == 200
        csrf = http.get("/staff/api/me").json()["csrf_token"]
        assert http.post("/staff/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert http.get("/console", follow_redirects=False).status_code == 303


def test_a_trailing_slash_goes_to_the_console(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.get("/console/", follow_redirects=False)
    assert answer.status_code == 307 and answer.headers["location"] == "/console"
    assert_secured(answer.headers)


@pytest.mark.parametrize(("path", "content_type"), [
    ("/console/static/console.js", "javascript"),
    ("/console/static/login.js", "javascript"),
    ("/console/static/console.css", "text/css"),
    (VENDORED_PREACT, "javascript"),
])
def test_static_files_have_their_types_and_the_headers(server: LiveServer, path: str, content_type: str) -> None:
    with server.client() as http:
        answer = http.get(path)
    assert answer.status_code == 200, path
    assert content_type in answer.headers["content-type"]
    assert_secured(answer.headers)
    assert answer.headers["cache-control"] == "no-cache"


def test_a_missing_static_file_is_404_with_the_headers(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.get("/console/static/nothing-here.js")
    assert answer.status_code == 404
    assert_secured(answer.headers)


def test_the_vendored_library_and_its_licences_ship_with_the_package() -> None:
    vendor = STATIC.parent / "vendor"
    assert (vendor / "README.md").is_file()
    assert (vendor / "htm-3.1.1" / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
    assert "MIT" in (vendor / "htm-3.1.1" / "preact" / "LICENSE").read_text(encoding="utf-8")
    # Nothing builds code from strings (the CSP has no unsafe-eval), and the console's own modules never
    # write HTML: every customer's text reaches the page as a text node
    for module in [*STATIC.glob("*.js"), vendor / "htm-3.1.1" / "preact" / "standalone.module.js"]:
        source = module.read_text(encoding="utf-8")
        assert "eval(" not in source and "new Function" not in source, module
    for module in STATIC.glob("*.js"):
        source = module.read_text(encoding="utf-8")
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source, module
