"""The live service against its own OpenAPI document (/openapi.json), with schemathesis: every operation of the
mini-program API (/mp/), the staff API (/staff/api/) and the API-key back office (/admin/) gets generated
requests, valid and invalid, with valid credentials (a logged-in customer, an admin's personal token, the API
key), and each answer must be no server error, a status its operation documents, with the documented content
type and a body matching the documented schema.

Deterministic (a fixed seed, derandomised) and bounded (a few examples per operation, no coverage phase's
hundreds), so that it runs in CI on SQLite and PostgreSQL alike. Left out, and why:
  POST /mp/logout        revokes the very token every other request of the run is signed in with;
  GET /staff/api/events  an event stream: the answer never ends;
  /pay/notify, /pay/refund-notify  WeChat Pay's callbacks, not our API: signed bodies, answered in WeChat Pay's
                         protocol (tests/bot/test_pay_webhook.py).
The knowledge base the run may edit is a copy (kb.path), never the demo's file.

Run it alone: .venv/bin/pytest -q tests/chatshop/test_openapi_fuzz.py
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from commerce.catalog import import_catalog, load_catalog_file
from commerce.models import Product
from staff.accounts import add_staff, issue_token
from staff.config import StaffConfig
from staff.roles import Role
from storage.db import make_session_factory, transaction
from tests.support import DEMO_KB, LiveServer, empty_tables, start_server
from tests.support.mp_client import Buyer
from tests.support.pay import Merchant
from tests.support.shop_fixtures import ADMIN_KEY, CATALOG, pay_settings

MAX_EXAMPLES = 4  # per operation and mode (valid, invalid): ~100 operations
HUGE = 2**63  # one past the largest 64-bit integer
FUZZED = r"^/(mp|staff/api|admin)/"
LEFT_OUT = {("POST", "/mp/logout"), ("GET", "/staff/api/events")}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Derandomised: the same requests every run. No shrinking: the first failing request of an operation is
# reported as it was sent, and the run stays bounded.
RUN = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
RUN_ONCE = settings(RUN, max_examples=1)  # a request with one parameter out of range


@pytest.fixture(scope="module")
def fuzzed(database_url: str, merchant: Merchant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    empty_tables(database_url)
    var = tmp_path_factory.mktemp("fuzz")
    kb = var / "kb.yaml"
    shutil.copyfile(DEMO_KB, kb)
    overrides = pay_settings(merchant, var / "keys") | {"CHATSHOP__ADMIN__API_KEY": ADMIN_KEY,
                                                        "CHATSHOP__KB__PATH": str(kb)}
    server = start_server(database_url, var, overrides)
    with transaction(make_session_factory(server.services.engine)) as session:
        import_catalog(session, load_catalog_file(CATALOG))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def credentials(fuzzed: LiveServer) -> dict[str, dict[str, str]]:
    """The headers each API's requests are signed in with."""
    server = fuzzed
    with transaction(server.services.factory) as session:
        add_staff(session, config=StaffConfig(), username="fuzz_admin", password="correct horse battery",
                  role=Role.ADMIN, display_name="Fuzz", groups=("售前",), max_chats=3)
        staff_token = issue_token(session, username="fuzz_admin")
    buyer = Buyer(server, "o_fuzz_buyer")
    return {
        "/mp/": {"Authorization": f"Bearer {buyer.token}"},
        "/staff/api/": {"Authorization": f"Bearer {staff_token}"},
        "/admin/": {"X-Api-Key": ADMIN_KEY},
    }


def first_failure(operation: Any, mode: GenerationMode, headers: dict[str, str], **fixed: Any) -> str | None:
    """The first request of `operation` (generated in `mode`, with `fixed` parameters) whose answer fails a
    check, told as schemathesis tells it (with a curl line that reproduces it); None if none did."""
    @(RUN_ONCE if fixed else RUN)
    @given(case=operation.as_strategy(mode, headers=headers, **fixed))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=15)

    try:
        run()
    except Unsatisfiable:
        return None  # nothing of the operation can be made invalid
    except (Exception, FailureGroup) as exc:
        return f"{operation.label} ({mode.value}{', ' + str(fixed) if fixed else ''}): {exc}"
    return None


def negatable(documented: dict[str, Any]) -> bool:
    """Whether requests the schema forbids can be made: a body, or a parameter with a type or bounds (a bare
    string in a path cannot be made invalid, and generating tries hundreds of times before saying so)."""
    return "requestBody" in documented or any(
        set(param.get("schema", {})) - {"type", "title", "description"} or param.get("schema", {}).get("type")
        not in ("string", None) for param in documented.get("parameters", []))


def integer_parameters(documented: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, name) of each integer parameter, for an out-of-range value: the fuzzing's few examples rarely
    draw one, and a number past 64 bits is what a database cannot take."""
    found = []
    for param in documented.get("parameters", []):
        schema = param.get("schema", {})
        types = {schema.get("type")} | {option.get("type") for option in schema.get("anyOf", [])}
        if "integer" in types and param["in"] in ("query", "path"):
            found.append(("query" if param["in"] == "query" else "path_parameters", param["name"]))
    return found


def test_every_operation_answers_as_documented(fuzzed: LiveServer, credentials: dict[str, dict[str, str]]) -> None:
    signed_in = credentials
    schema = schemathesis.openapi.from_url(f"{fuzzed.base_url}/openapi.json").include(path_regex=FUZZED)
    spec = schema.raw_schema
    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        headers = next(signed for prefix, signed in signed_in.items() if operation.path.startswith(prefix))
        documented = spec["paths"][operation.path][operation.method.lower()]
        tried += 1
        runs: list[tuple[GenerationMode, dict[str, Any]]] = [(GenerationMode.POSITIVE, {})]
        if negatable(documented):
            runs.append((GenerationMode.NEGATIVE, {}))
        runs += [(GenerationMode.POSITIVE, {where: {name: HUGE}}) for where, name in integer_parameters(documented)]
        for mode, fixed in runs:
            failure = first_failure(operation, mode, headers, **fixed)
            if failure is not None:
                failures.append(failure)
    assert tried >= 90  # the filter must not quietly leave the APIs out
    assert not failures, "\n\n".join(failures)


# What the fuzzing found, each once more by hand: refused with a 422 naming the field, never a 500.


@pytest.mark.parametrize(("method", "path", "api"), [
    ("GET", f"/admin/orders?offset={HUGE}", "/admin/"),
    ("GET", f"/mp/orders?offset={HUGE}", "/mp/"),
    ("POST", f"/staff/api/campaigns/{HUGE}/schedule", "/staff/api/"),
    ("GET", "/staff/api/conversations/counts?group=%00", "/staff/api/"),
])
def test_numbers_past_the_columns_and_nul_characters_are_refused(
        fuzzed: LiveServer, credentials: dict[str, dict[str, str]], method: str, path: str, api: str) -> None:
    with fuzzed.client() as http:
        answer = http.request(method, path, headers=credentials[api])
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "INVALID_INPUT" and answer.json()["error"]["field"]


@pytest.mark.parametrize("body", [b'{"sku_id": "tee-basic-white-M\\u0000", "quantity": 1}', b"\xff\xfe{]"])
def test_a_body_that_is_no_storable_json_text_is_refused(fuzzed: LiveServer, credentials: dict[str, dict[str, str]],
                                                        body: bytes) -> None:
    with fuzzed.client() as http:
        answer = http.post("/mp/cart/items", content=body,
                           headers=credentials["/mp/"] | {"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {"code": "INVALID_INPUT", "field": "body", "message": answer.json()["error"][
        "message"]}


def test_the_catalog_exports_a_title_holding_control_characters(fuzzed: LiveServer,
                                                                credentials: dict[str, dict[str, str]]) -> None:
    # Given a product whose title came in with a control character (an old import), and one refused now
    with transaction(fuzzed.services.factory) as session:
        session.get(Product, "tee-basic").title = "纯棉\x07圆领T恤"
    with fuzzed.client() as http:
        refused = http.patch("/staff/api/catalog/products/scarf-silk", json={"title": "真丝\x1b方巾"},
                             headers=credentials["/staff/api/"])
        exported = http.get("/staff/api/catalog/export", headers=credentials["/staff/api/"])
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "title"
    assert exported.status_code == 200 and exported.content.startswith(b"PK")  # the spreadsheet, without it
