"""The 数据 page's API over real HTTP against a live shop: customers browse through the mini-program API with
the page's `src`, add to cart, check out and pay through the sandbox's signed WeChat Pay notification; after
the roll-up, the overview, funnel, sources and CSV exports give exactly those figures. Only admins see them;
a bad period is a 422 naming the field."""

from __future__ import annotations

import csv
import io
import itertools
import time
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from bot.analytics.models import AnalyticsEvent
from bot.analytics.rollup import roll_up_recent
from staff.roles import Role
from storage.clock import utcnow
from tests.staff.test_staff_api import make_staff, token_for
from tests.support import LiveServer
from tests.support.mp_client import Buyer, error_of, placed_order, sandbox_pays

SHANGHAI = ZoneInfo("Asia/Shanghai")
TEE_FEN = 7900
_people = itertools.count(1)  # the module's tests share one server: each signs in a new staff member


def views_recorded(server: LiveServer) -> int:
    with server.services.factory() as session:
        return int(session.scalar(select(func.count()).where(AnalyticsEvent.kind == "view")) or 0)


def wait_for_views(server: LiveServer, count: int, timeout_s: float = 10) -> None:
    """Views are queued on the writer (the product request does not wait for them)."""
    deadline = time.monotonic() + timeout_s
    while views_recorded(server) < count:
        assert time.monotonic() < deadline, f"{views_recorded(server)} views recorded, expected {count}"
        time.sleep(0.05)


def trade(server: LiveServer) -> str:
    """Ann opens the T-shirt from a chat card twice and the lipstick from a share, buys two T-shirts and pays;
    Bo opens the lipstick from a page with an unknown src, adds it and checks out without paying; someone not
    logged in looks at the scarf. Returns Ann's order number."""
    ann, bo = Buyer(server, "o_ana_ann"), Buyer(server, "o_ana_bo")
    for path in ("/mp/products/tee-basic?src=card", "/mp/products/tee-basic?src=card",
                 "/mp/products/lipstick-velvet?src=share"):
        assert ann.get(path).status_code == 200
    # a src of someone else's making, however long, still opens the page (and counts as direct)
    assert bo.get("/mp/products/lipstick-velvet?src=" + "utm_poster_" * 20).status_code == 200
    with server.client() as anonymous:
        assert anonymous.get("/mp/products/scarf-silk").status_code == 200
    order = placed_order(ann, ("tee-basic-white-M", 2))
    placed_order(bo, ("lipstick-velvet-999", 1))
    sandbox_pays(server, order["order_no"])
    wait_for_views(server, 5)
    roll_up_recent(server.services.factory, zone=SHANGHAI, now=utcnow())
    return str(order["order_no"])


@pytest.fixture(scope="module")
def traded(shop: LiveServer) -> LiveServer:
    trade(shop)
    return shop


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def as_role(traded: LiveServer, clients: list[httpx.Client]) -> Callable[[Role], httpx.Client]:
    def signed_in(role: Role) -> httpx.Client:
        username = f"ana_{role.value}_{next(_people)}"
        make_staff(traded, username, role, groups=("售前",) if role is Role.AGENT else ())
        http = traded.client()
        http.headers["Authorization"] = f"Bearer {token_for(traded, username)}"
        clients.append(http)
        return http

    return signed_in


def test_the_overview_counts_the_paid_order(traded: LiveServer, as_role: Callable[[Role], httpx.Client]) -> None:
    answer = as_role(Role.ADMIN).get("/staff/api/analytics/overview")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["timezone"] == "Asia/Shanghai"
    assert body["rolled_at"] is not None
    periods = {p["key"]: p for p in body["periods"]}
    assert periods["today"]["current"] == {"orders": 1, "gmv_fen": 2 * TEE_FEN, "customers": 1,
                                           "aov_fen": 2 * TEE_FEN, "refunds": 0, "refund_fen": 0}
    assert periods["today"]["previous"]["orders"] == 0
    assert periods["today"]["change_pct"]["gmv_fen"] is None  # nothing to compare with
    assert periods["30d"]["current"]["gmv_fen"] == 2 * TEE_FEN
    cells = body["heatmap"]["cells"]
    local = utcnow().astimezone(SHANGHAI)
    assert [(c["weekday"], c["orders"], c["gmv_fen"]) for c in cells] == [(local.weekday(), 1, 2 * TEE_FEN)]


def test_the_funnel_follows_each_customer_from_view_to_payment(as_role: Callable[[Role], httpx.Client]) -> None:
    answer = as_role(Role.ADMIN).get("/staff/api/analytics/funnel", params={"days": 7})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    overall = body["overall"]
    assert overall["customers"] == {"view": 2, "cart": 2, "checkout": 2, "paid": 1}
    assert overall["events"] == {"view": 5, "cart": 2, "checkout": 2, "paid": 1}  # the anonymous view too
    assert overall["view_to_cart"] == 1.0 and overall["cart_to_paid"] == 0.5
    products = {p["product_id"]: p for p in body["products"]}
    assert products["tee-basic"]["title"] == "纯棉圆领T恤"
    assert products["tee-basic"]["events"] == {"view": 2, "cart": 1, "checkout": 1, "paid": 1}
    assert products["tee-basic"]["customers"]["view"] == 1
    assert products["lipstick-velvet"]["customers"] == {"view": 2, "cart": 1, "checkout": 1, "paid": 0}
    assert products["lipstick-velvet"]["cart_to_paid"] == 0.0
    assert products["scarf-silk"]["customers"]["view"] == 0  # nobody logged in
    by_src = {row["src"]: row for row in body["by_src"]}
    # Ann's T-shirt: viewed twice from the card, then carted and paid from it; the unknown src is direct.
    assert (by_src["card"]["view"], by_src["card"]["cart"], by_src["card"]["paid"]) == (2, 1, 1)
    assert by_src["share"]["view"] == 1
    assert (by_src["direct"]["view"], by_src["direct"]["cart"]) == (2, 1)


def test_sources_credit_the_order_to_the_card(as_role: Callable[[Role], httpx.Client]) -> None:
    answer = as_role(Role.ADMIN).get("/staff/api/analytics/sources")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    by_src = {row["src"]: row for row in body["by_src"]}
    assert by_src["card"] == {"src": "card", "orders": 1, "gmv_fen": 2 * TEE_FEN, "customers": 1}
    assert by_src["direct"]["orders"] == 0
    assert body["campaigns"] == []
    assert body["reminders"]["reminded"]["carts"] == 0
    assert body["bot"]["questions"] == 0 and body["bot"]["answered_share"] is None


def test_tables_export_as_csv_in_yuan(as_role: Callable[[Role], httpx.Client]) -> None:
    answer = as_role(Role.ADMIN).get("/staff/api/analytics/export/products", params={"days": 7})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="products-')
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["商品ID", "商品", "浏览人数"]
    tee = next(row for row in rows if row[0] == "tee-basic")
    assert tee[1] == "纯棉圆领T恤" and tee[-2:] == ["100.0%", "100.0%"]
    overview = as_role(Role.ADMIN).get("/staff/api/analytics/export/overview")
    today = list(csv.reader(io.StringIO(overview.content.decode("utf-8-sig"))))[1]
    assert today[0] == "今天" and today[3] == "158.00" and today[6] == "158.00"


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.MARKETER])
def test_only_admins_see_the_numbers(as_role: Callable[[Role], httpx.Client], role: Role) -> None:
    answer = as_role(role).get("/staff/api/analytics/overview")
    assert answer.status_code == 403
    assert error_of(answer)["code"] == "FORBIDDEN"


def test_signed_out_is_401(traded: LiveServer) -> None:
    with traded.client() as http:
        assert http.get("/staff/api/analytics/funnel").status_code == 401


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/staff/api/analytics/funnel", {"days": 0}, "days"),
    ("/staff/api/analytics/sources", {"days": 10**12}, "days"),
    ("/staff/api/analytics/export/orders", {}, "table"),
])
def test_a_bad_period_or_table_is_422_naming_it(as_role: Callable[[Role], httpx.Client], path: str,
                                                params: dict[str, int], field: str) -> None:
    answer = as_role(Role.ADMIN).get(path, params=params)
    assert answer.status_code == 422
    assert error_of(answer)["field"] == field
