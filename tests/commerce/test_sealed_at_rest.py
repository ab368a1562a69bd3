"""Customers' personal data is sealed at rest: after a checkout in the mini-program and an address change in
the chat, the database holds no name, phone number or street in clear, in any table, nor (SQLite) anywhere
in its files; the service and the buyer still read them whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from bot.models import ConversationMessage, DialogueState
from chatshop.database import all_metadata
from commerce.models import Order
from tests.support import LiveServer
from tests.support.mp_client import Buyer
from tests.support.sandbox_client import SandboxCustomer, wait_until

PLACED = {"name": "司马懿", "phone": "13566667777", "province": "广东省", "city": "广州市", "district": "天河区",
          "detail": "珠江新城华夏路 8 号"}
CHANGED_TO = "诸葛亮 13588889999 广州市越秀区北京路 123 号"
# What must not be found in clear: the phone digits, the names and the streets.
SECRETS = ["13566667777", "13588889999", "司马懿", "诸葛亮", "华夏路", "北京路"]


def test_a_checkout_and_a_chat_address_change_leave_nothing_in_clear(shop: LiveServer) -> None:
    # Given a buyer checks out in the mini-program to one address
    buyer = Buyer(shop, "o_sealed_at_rest")
    assert buyer.post("/mp/cart/items", json={"sku_id": "tee-basic-white-M", "quantity": 1}).status_code == 200
    placed = buyer.post("/mp/checkout", json={"address": PLACED})
    assert placed.status_code == 201, placed.text
    order_no = placed.json()["order_no"]
    # When they change it in the chat: the address in their own words, answered with the new address
    customer = SandboxCustomer(shop, "o_sealed_at_rest", account="mp")
    customer.says(f"订单{order_no}改地址")
    answer = customer.says(CHANGED_TO)
    changed = wait_until(lambda: _address(shop, order_no), lambda address: address["name"] == "诸葛亮")
    _written_through(shop, order_no, answer)

    # Then the service reads the addresses whole, and the buyer sees theirs in full
    assert changed == {"name": "诸葛亮", "phone": "13588889999", "detail": "广州市越秀区北京路123号"}
    assert buyer.get(f"/mp/orders/{order_no}").json()["address"] == changed
    # But no table holds any of it in clear
    assert _found_in_clear(shop) == {}
    # And on SQLite, neither the database file nor its write-ahead log holds a byte of it
    database = shop.settings.database.url.removeprefix("sqlite:///")
    if shop.services.engine.dialect.name == "sqlite":
        files = [Path(database), Path(database + "-wal")]
        for path in files:
            if path.exists():
                data = path.read_bytes()
                assert [s for s in SECRETS if s.encode() in data] == [], path


def _address(shop: LiveServer, order_no: str) -> dict[str, Any]:
    with shop.services.factory() as session:
        order = session.get(Order, order_no)
        assert order is not None
        return dict(order.address)


def _written_through(shop: LiveServer, order_no: str, answer: dict[str, Any]) -> None:
    """The chat's rows are all in: the customer's message, the bot's answer and the dialogue state."""
    def chat(_: Any = None) -> tuple[list[str], list[str]]:
        with shop.services.factory() as session:
            bodies = [str(body) for body in session.scalars(select(ConversationMessage.body))]
            states = [str(state.latest_message) for state in session.scalars(select(DialogueState))]
        return bodies, states

    bodies, _ = wait_until(chat, lambda got: any("诸葛亮" in s for s in got[1])
                                and sum("诸葛亮" in b for b in got[0]) >= 2)
    assert any("13588889999" in b and "已改为" in b for b in bodies), (answer, bodies)


def _found_in_clear(shop: LiveServer) -> dict[str, list[str]]:
    """Every table read raw (no column type opens anything), each row as text: which secrets each holds."""
    found: dict[str, list[str]] = {}
    with shop.services.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        for table in all_metadata().sorted_tables:
            if postgres:
                rows = [row[0] for row in connection.execute(text(f'SELECT x::text FROM "{table.name}" AS x'))]
            else:
                rows = [repr(tuple(row)) for row in connection.exec_driver_sql(f'SELECT * FROM "{table.name}"')]
            hits = sorted({s for s in SECRETS for row in rows if s in row})
            if hits:
                found[table.name] = hits
    return found

