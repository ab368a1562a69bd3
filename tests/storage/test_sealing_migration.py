"""Migration 0018 seals the personal data a store already holds, where it is; without keys it stops before
changing anything; on an empty database it needs none (the suite migrates from scratch without them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from chatshop.database import upgrade_database
from commerce.models import Order
from commerce.personal import phone_index
from storage.db import make_session_factory, open_engine
from storage.sealing import NoSealer, install_sealer, installed_sealer
from tests.storage.test_database import fresh_database_url, migrate_to  # noqa: F401 (a fixture)

ADDRESS = {"name": "王小二", "phone": "+86 139-0000-7777", "detail": "解放西路 66 号"}
CLEAR = ["13900007777", "139-0000-7777", "王小二", "解放西路"]


def store_at_0017(engine: Engine) -> None:
    migrate_to(engine, "0017")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO orders (order_no, openid, status, amount_fen, refunded_fen, address, description, created_at,"
            " expires_at) VALUES ('20261201000000000001', 'o_old', 'paid', 100, 0, :address, 'T恤',"
            " '2026-12-01 00:00:00', '2026-12-01 00:30:00')"), {"address": json.dumps(ADDRESS, ensure_ascii=False)})
        connection.execute(text("INSERT INTO unanswered_questions (channel, openid, text, outcome, created_at)"
                                " VALUES ('oa', 'o_old', '寄到解放西路 66 号 13900007777', 'fallback',"
                                " '2026-12-01 00:00:00')"))


def test_existing_personal_data_is_sealed_in_place_and_found_by_phone(fresh_database_url: str) -> None:  # noqa: F811
    engine = open_engine(fresh_database_url)
    try:
        store_at_0017(engine)
        # Without keys the migration stops with one clear line, and nothing of it is applied
        keys = install_sealer(None)
        try:
            with pytest.raises(NoSealer, match="CHATSHOP__DATA__KEYS"):
                upgrade_database(engine)
        finally:
            install_sealer(keys)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0017"
        # With them, it seals what is there
        upgrade_database(engine)
        with engine.connect() as connection:
            address, phone_hash = connection.execute(text(
                "SELECT CAST(address AS TEXT), phone_hash FROM orders")).one()
            question = connection.execute(text("SELECT text FROM unanswered_questions")).scalar_one()
        assert address.startswith(f'"v1:{installed_sealer().current}:') and question.startswith("v1:")
        assert not any(s in address + question for s in CLEAR)
        with make_session_factory(engine)() as session:
            [order] = session.scalars(select(Order).where(Order.phone_hash == phone_index("13900007777")))
            assert order.address == ADDRESS and phone_hash == order.phone_hash
        # And on SQLite the overwritten clear values are not left in the file's free space
        if engine.dialect.name == "sqlite":
            engine.dispose()
            database = fresh_database_url.removeprefix("sqlite:///")
            for path in (Path(database), Path(database + "-wal")):
                data = path.read_bytes() if path.exists() else b""
                assert [s for s in CLEAR if s.encode() in data] == [], path
    finally:
        engine.dispose()
