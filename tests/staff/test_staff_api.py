"""The staff API under /staff/api/, over real HTTP: logins (cookie + CSRF token), personal tokens,
disabling, idle expiry, failed-login limits per username and address, roles, and the OpenAPI document."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from staff.accounts import add_staff, disable_staff, issue_token
from staff.config import StaffConfig
from staff.models import StaffMember, StaffStatusEvent
from staff.roles import Role
from storage.db import transaction
from tests.support import LiveServer
from tests.support.mp_client import error_of

PASSWORD = "correct horse battery"


def make_staff(server: LiveServer, username: str, role: Role = Role.AGENT, groups: tuple[str, ...] = ("presale",),
               ) -> None:
    with transaction(server.services.factory) as session:
        add_staff(session, config=StaffConfig(), username=username, password=PASSWORD, role=role,
                  display_name=username.title(), groups=groups, max_chats=3)


def token_for(server: LiveServer, username: str) -> str:
    with transaction(server.services.factory) as session:
        return issue_token(session, username=username)


def log_in(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/staff/api/login", json={"username": username, "password": password})


def from_address(server: LiveServer, address: str) -> httpx.Client:
    """A client whose connections come from another loopback address (a different client to the server)."""
    return httpx.Client(base_url=server.base_url, timeout=15, transport=httpx.HTTPTransport(local_address=address))


def test_login_sets_an_httponly_samesite_cookie_and_returns_a_csrf_token(server: LiveServer) -> None:
    make_staff(server, "wang")
    with server.client() as http:
        answer = log_in(http, "Wang")  # usernames are not case-sensitive
        assert answer.status_code == 200, answer.text
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("chatshop_staff=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/;" in cookie + ";"
        csrf = answer.json()["csrf_token"]
        assert len(csrf) >= 32
        assert answer.json()["staff"] == {"username": "wang", "display_name": "Wang", "role": "agent",
                                          "groups": ["presale"], "status": "offline", "max_chats": 3}
        me = http.get("/staff/api/me")
    assert me.status_code == 200
    assert me.json()["username"] == "wang" and me.json()["csrf_token"] == csrf


@pytest.mark.parametrize(("method", "path"), [("GET", "/staff/api/me"), ("PUT", "/staff/api/me/status"),
                                              ("GET", "/staff/api/staff"), ("POST", "/staff/api/logout")])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cst_not-a-token"},
                                     {"Cookie": "chatshop_staff=forged"}])
def test_no_or_unknown_credentials_are_401(server: LiveServer, method: str, path: str,
                                           headers: dict[str, str]) -> None:
    with server.client() as http:
        answer = http.request(method, path, headers=headers, json={"status": "online"} if method == "PUT" else None)
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "NOT_SIGNED_IN"


def test_a_cookie_write_needs_the_csrf_token_the_login_returned(server: LiveServer) -> None:
    make_staff(server, "li")
    with server.client() as http:
        csrf = log_in(http, "li").json()["csrf_token"]
        # A write without the header, or with another one, is refused and changes nothing
        missing = http.put("/staff/api/me/status", json={"status": "online"})
        wrong = http.put("/staff/api/me/status", json={"status": "online"}, headers={"X-CSRF-Token": csrf[:-1]})
        assert (missing.status_code, wrong.status_code) == (403, 403)
        assert error_of(missing)["code"] == "CSRF_REFUSED"
        assert http.get("/staff/api/me").json()["status"] == "offline"
        # With it, the agent goes online and takes more chats
        done = http.put("/staff/api/me/status", json={"status": "online", "max_chats": 6},
                        headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["max_chats"]) == ("online", 6)
        assert http.get("/staff/api/me").json()["status"] == "online"


@pytest.mark.parametrize(("body", "field"), [
    ({"status": "online", "max_chats": 0}, "max_chats"),
    ({"status": "online", "max_chats": 21}, "max_chats"),  # staff.max_chats_limit is 20
    ({"status": "busy"}, "status"),
    ({"status": "away", "extra": 1}, "extra"),
])
def test_status_changes_are_bounded(server: LiveServer, body: dict[str, object], field: str) -> None:
    make_staff(server, "zhao")
    with server.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(server, 'zhao')}"
        answer = http.put("/staff/api/me/status", json=body)
        assert answer.status_code == 422
        assert error_of(answer)["code"] == "INVALID_INPUT" and error_of(answer)["field"] == field
        assert http.get("/staff/api/me").json()["max_chats"] == 3


def test_logout_ends_the_session(server: LiveServer) -> None:
    make_staff(server, "sun")
    with server.client() as http:
        csrf = log_in(http, "sun").json()["csrf_token"]
        assert http.post("/staff/api/logout").status_code == 403  # a write: needs the CSRF token
        cookie = http.cookies["chatshop_staff"]
        answer = http.post("/staff/api/logout", headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 204
    # The old cookie, sent again, no longer signs anyone in
    with server.client() as http:
        assert http.get("/staff/api/me", headers={"Cookie": f"chatshop_staff={cookie}"}).status_code == 401


def test_a_personal_token_signs_in_until_the_account_is_disabled(server: LiveServer) -> None:
    make_staff(server, "qian", Role.SUPERVISOR)
    first = token_for(server, "qian")
    token = token_for(server, "qian")  # a new token replaces the previous one
    with server.client() as by_token, server.client() as by_cookie:
        by_token.headers["Authorization"] = f"Bearer {token}"
        me = by_token.get("/staff/api/me")
        assert me.status_code == 200 and me.json()["role"] == "supervisor" and me.json()["csrf_token"] is None
        # A bearer write needs no CSRF token: browsers never add that header on their own
        assert by_token.put("/staff/api/me/status", json={"status": "away"}).status_code == 200
        assert by_token.get("/staff/api/me", headers={"Authorization": f"Bearer {first}"}).status_code == 401
        assert log_in(by_cookie, "qian").status_code == 200
        assert by_cookie.get("/staff/api/me").status_code == 200
        # When the account is disabled
        with transaction(server.services.factory) as session:
            disable_staff(session, username="qian")
        # Then neither its token nor its session works, and it cannot log in again
        assert by_token.get("/staff/api/me").status_code == 401
        assert by_cookie.get("/staff/api/me").status_code == 401
        again = log_in(by_cookie, "qian")
        assert again.status_code == 401 and error_of(again)["code"] == "BAD_CREDENTIALS"


def test_failed_logins_are_limited_per_username_and_address(
    server: LiveServer, caplog: pytest.LogCaptureFixture,
) -> None:
    make_staff(server, "zhou")
    with caplog.at_level(logging.WARNING, logger="staff"), server.client() as http:
        for attempt in range(5):
            wrong = log_in(http, "zhou", f"wrong password {attempt}")
            assert wrong.status_code == 401 and error_of(wrong)["code"] == "BAD_CREDENTIALS"
        unknown = log_in(http, "nobody", "whatever it is")
        assert unknown.status_code == 401 and error_of(unknown)["code"] == "BAD_CREDENTIALS"
        # The sixth try within the window is refused, even with the right password
        throttled = log_in(http, "zhou")
    assert throttled.status_code == 429
    assert error_of(throttled)["code"] == "LOGIN_THROTTLED"
    retry_after = throttled.json()["error"]["retry_after"]
    assert 0 < retry_after <= 900 and throttled.headers["Retry-After"] == str(retry_after)
    # Each failure was logged with username and address, never the password
    failures = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
    assert len(failures) == 6 and all("127.0.0.1" in line for line in failures)
    assert "'zhou'" in failures[0] and not any("wrong password" in r.getMessage() for r in caplog.records)
    # Another address is not blocked, and its success does not clear the first address's count
    with from_address(server, "127.0.0.2") as elsewhere:
        assert log_in(elsewhere, "zhou").status_code == 200
    with server.client() as http:
        assert log_in(http, "zhou").status_code == 429


def test_many_usernames_from_one_address_are_limited_too(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"CHATSHOP__STAFF__LOGIN_MAX_FAILURES_PER_ADDRESS": "3"})
    make_staff(server, "wu")
    with server.client() as http:
        for name in ("a1", "a2", "a3"):
            assert log_in(http, name, "guess guess").status_code == 401
        assert log_in(http, "wu").status_code == 429


def test_an_idle_session_expires(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory({"CHATSHOP__STAFF__SESSION_IDLE_S": "2"})
    make_staff(server, "zheng")
    with server.client() as http:
        assert log_in(http, "zheng").status_code == 200
        # Requests less than the idle time apart keep the session alive past it ...
        for _ in range(2):
            time.sleep(1.2)
            assert http.get("/staff/api/me").status_code == 200
        # ... and longer without one ends it
        time.sleep(2.2)
        gone = http.get("/staff/api/me")
    assert gone.status_code == 401 and error_of(gone)["code"] == "NOT_SIGNED_IN"


def test_only_admins_list_staff(server: LiveServer) -> None:
    make_staff(server, "agent1")
    make_staff(server, "boss", Role.ADMIN, groups=())
    with server.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(server, 'agent1')}"
        refused = http.get("/staff/api/staff")
        assert refused.status_code == 403 and error_of(refused)["code"] == "FORBIDDEN"
        http.headers["Authorization"] = f"Bearer {token_for(server, 'boss')}"
        listed = http.get("/staff/api/staff")
    assert listed.status_code == 200
    assert [(s["username"], s["role"], s["disabled"]) for s in listed.json()] == [
        ("agent1", "agent", False), ("boss", "admin", False)]
    assert "password" not in listed.text


def test_the_openapi_document_lists_the_staff_routes(server: LiveServer) -> None:
    with server.client() as http:
        paths = http.get("/openapi.json").json()["paths"]
    assert {"/staff/api/login", "/staff/api/logout", "/staff/api/me", "/staff/api/me/status",
            "/staff/api/staff"} <= set(paths)
    assert set(paths["/staff/api/me/status"]) == {"put"}
    assert {"401", "403", "422"} <= set(paths["/staff/api/staff"]["get"]["responses"])


def test_every_change_of_availability_is_an_event_row(server: LiveServer) -> None:
    make_staff(server, "zhou")
    with server.client() as http:
        http.headers["Authorization"] = f"Bearer {token_for(server, 'zhou')}"
        assert http.put("/staff/api/me/status", json={"status": "online", "max_chats": 5}).status_code == 200
        assert http.put("/staff/api/me/status", json={"status": "online"}).status_code == 200  # no change
        assert http.put("/staff/api/me/status", json={"status": "away"}).status_code == 200
    with server.services.factory() as session:
        events = session.execute(
            select(StaffStatusEvent.from_status, StaffStatusEvent.to_status, StaffStatusEvent.max_chats)
            .join(StaffMember, StaffMember.id == StaffStatusEvent.staff_id)
            .where(StaffMember.username == "zhou").order_by(StaffStatusEvent.id)).all()
    assert [tuple(e) for e in events] == [("offline", "online", 5), ("online", "away", 5)]
