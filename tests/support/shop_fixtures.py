"""One live server per test module: app + sandbox on a fresh database holding a small catalog, and
WeChat Pay keys the tests generated (the sandbox signs with them, the service verifies with them).

Tests in a module share the server, so each uses its own customers (openids) and SKUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commerce.catalog import import_catalog, load_catalog_file
from storage.db import make_session_factory, transaction
from tests.support import FIXTURES, LiveServer, empty_tables, start_server
from tests.support.pay import Merchant

CATALOG = FIXTURES / "catalog" / "mp_shop.yaml"
ADMIN_KEY = "test-admin-key-6f1d2c"


def pay_settings(merchant: Merchant, directory: Path) -> dict[str, str]:
    """Environment overrides that make the service and its sandbox use the test's merchant."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "merchant.pem": merchant.merchant_private_pem,
        "platform.pem": merchant.platform_private_pem,
        "platform_public.pem": merchant.platform_public_pem,
    }
    for name, pem in files.items():
        (directory / name).write_text(pem)
    return {
        "CHATSHOP__PAY__MCHID": merchant.mchid,
        "CHATSHOP__PAY__APIV3_KEY": merchant.apiv3_key,
        "CHATSHOP__PAY__MERCHANT_PRIVATE_KEY_PATH": str(directory / "merchant.pem"),
        "CHATSHOP__PAY__MERCHANT_CERT_SERIAL_NO": merchant.serial_no,
        "CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_PATH": str(directory / "platform_public.pem"),
        "CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_ID": merchant.platform_key_id,
        "CHATSHOP__SANDBOX__PAY_PLATFORM_PRIVATE_KEY_PATH": str(directory / "platform.pem"),
    }


@pytest.fixture(scope="module")
def shop(database_url: str, merchant: Merchant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CATALOG.exists():
        raise FileNotFoundError(f"missing test fixture {CATALOG}")
    empty_tables(database_url)
    var = tmp_path_factory.mktemp("shop")
    overrides = pay_settings(merchant, var / "keys") | {"CHATSHOP__ADMIN__API_KEY": ADMIN_KEY}
    server = start_server(database_url, var, overrides)
    with transaction(make_session_factory(server.services.engine)) as session:
        import_catalog(session, load_catalog_file(CATALOG))
    yield server
    server.stop()
