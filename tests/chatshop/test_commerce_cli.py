"""The staff commands: catalog import/export, stock, ship and refund, and `seed`'s demo catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from chatshop.cli import main
from commerce.catalog import export_catalog, set_stock
from commerce.orders import lock_order, transition
from commerce.states import OrderStatus
from storage.clock import utcnow
from storage.db import transaction
from tests.support.commerce import checkout, fixture_path, status_of, stock_of

DEMO_KB = Path(__file__).parent.parent.parent / "chatshop" / "demo" / "kb.yaml"


@pytest.fixture
def cli_env(empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", empty_database)
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(tmp_path / "kb.yaml"))
    monkeypatch.setenv("CHATSHOP__TAGS__RULES_PATH", str(tmp_path / "tag_rules.yaml"))
    monkeypatch.setenv("CHATSHOP__OUTREACH__TEMPLATES_PATH", str(tmp_path / "subscribe_templates.yaml"))
    monkeypatch.setenv("CHATSHOP__SANDBOX__CREDENTIALS_PATH", str(tmp_path / "sandbox-credentials.json"))
    monkeypatch.setenv("CHATSHOP__LOGGING__LEVEL", "WARNING")


def test_seed_imports_the_demo_catalog_once(cli_env: None, factory: sessionmaker[Session]) -> None:
    assert main(["seed"]) == 0
    with factory() as session:
        first = export_catalog(session)
    with transaction(factory) as session:
        set_stock(session, sku_id=first[0]["skus"][0]["sku_id"], stock=0)
    assert main(["seed"]) == 0  # a second seed leaves the store as it is
    assert len(first) >= 30 and stock_of(factory, first[0]["skus"][0]["sku_id"]) == 0


def test_catalog_import_and_export_through_the_command(
    cli_env: None, factory: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["catalog", "import", str(fixture_path("small_catalog.csv"))]) == 0
    assert "imported 2 products, 3 SKUs" in capsys.readouterr().out
    out = tmp_path / "catalog.yaml"
    assert main(["catalog", "export", "--output", str(out)]) == 0
    assert [p["id"] for p in yaml.safe_load(out.read_text(encoding="utf-8"))["products"]] == ["tee-csv", "serum-csv"]
    # a bad file is refused with its line numbers, exit status 1, and nothing changes
    assert main(["catalog", "import", str(fixture_path("bad_catalog.csv"))]) == 1
    err = capsys.readouterr().err
    assert "INVALID_INPUT" in err and "line 3: price_fen must be a whole number, got '7.5'" in err
    assert stock_of(factory, "tee-csv-white-M") == 12


def test_stock_ship_and_refund_commands(
    cli_env: None, store: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stock", "shirt-test-white-L", "--add", "-10"]) == 0
    assert main(["stock", "lipstick-test-316", "--set", "9"]) == 0
    assert main(["stock", "lipstick-test-316", "--add", "-10"]) == 1
    assert (stock_of(store, "shirt-test-white-L"), stock_of(store, "lipstick-test-316")) == (90, 9)
    order_no = checkout(store, "o_cli", {"shirt-test-white-L": 1})
    assert main(["ship", order_no, "--carrier", "顺丰速运", "--tracking-no", "SF1234567890"]) == 1  # unpaid
    assert "ILLEGAL_TRANSITION" in capsys.readouterr().err
    with transaction(store) as session:
        transition(session, lock_order(session, order_no=order_no), OrderStatus.PAID, reason="test", actor="test",
                   now=utcnow())
    assert main(["ship", order_no, "--carrier", "顺丰速运", "--tracking-no", "SF1234567890"]) == 0
    assert status_of(store, order_no) == "shipped"
    # a refund larger than the order is refused; a partial one is recorded (WeChat Pay is not set up
    # for this command, so it stays pending for the running service's refund job to send)
    assert main(["refund", order_no, "--reason", "少发一件", "--amount-fen", "99999"]) == 1
    assert main(["refund", order_no, "--reason", "少发一件", "--amount-fen", "500"]) == 0
    assert f"refund {order_no}R01 of 500 fen: pending" in capsys.readouterr().out
