"""Pay settings wiring: the generated sandbox merchant, key paths, refusals of half a setup, and the
client reaching the sandbox gateway mounted in the running app."""

from __future__ import annotations

import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chatshop.pay_wiring import build_notification_verifier, build_pay_client, pay_config
from chatshop.sandbox_wiring import with_sandbox_credentials
from chatshop.settings import DEFAULT_CONFIG_PATH, Settings, SettingsError, load_settings
from tests.support import LiveServer
from tests.support.pay import new_out_trade_no
from wechat.pay import PRODUCTION_PAY_BASE_URL, TradeState


def sandbox_settings(tmp_path: Path, **env: str) -> Settings:
    environ = {"CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "var" / "sandbox-credentials.json"), **env}
    return with_sandbox_credentials(load_settings(DEFAULT_CONFIG_PATH, environ=environ))


def test_the_sandbox_fills_every_pay_setting_with_a_merchant_kept_under_var(tmp_path: Path) -> None:
    # given no pay settings at all and the sandbox on
    settings = sandbox_settings(tmp_path)
    pay = settings.pay
    # then a whole merchant is generated next to the sandbox credentials, readable only by its owner
    assert pay.mchid and pay.merchant_cert_serial_no and pay.platform_public_key_id.startswith("PUB_KEY_ID_")
    assert len(pay.apiv3_key.get_secret_value()) == 32
    var = tmp_path / "var"
    for path in (pay.merchant_private_key_path, pay.platform_public_key_path,
                 settings.sandbox.pay_platform_private_key_path, var / "sandbox-pay.json"):
        assert path is not None and path.parent == var
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pay.api_base_url == settings.local_base_url + "/sandbox/pay/"
    # and the client's config points at the sandbox, paying in the mini-program's app
    config = pay_config(settings)
    assert config is not None
    assert config.appid == settings.miniprogram.app_id
    assert config.notify_url == settings.local_base_url + "/pay/notify"
    assert config.refund_notify_url == settings.local_base_url + "/pay/refund-notify"
    # and a second start reuses the same merchant
    again = sandbox_settings(tmp_path).pay
    assert (again.mchid, again.apiv3_key, again.merchant_private_key_path) == (
        pay.mchid, pay.apiv3_key, pay.merchant_private_key_path)


def test_settings_already_given_are_kept(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path, CHATSHOP__PAY__MCHID="1230000109",
                                CHATSHOP__PAY__NOTIFY_URL="https://shop.example.com/pay/notify")
    assert settings.pay.mchid == "1230000109"
    config = pay_config(settings)
    assert config is not None and config.notify_url == "https://shop.example.com/pay/notify"


def test_key_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "chatshop.yaml"
    config_file.parent.mkdir()
    config_file.write_text("pay:\n  merchant_private_key_path: keys/apiclient_key.pem\n", encoding="utf-8")
    settings = load_settings(config_file, environ={})
    assert settings.pay.merchant_private_key_path == tmp_path / "conf" / "keys" / "apiclient_key.pem"


def production_environ(tmp_path: Path) -> dict[str, str]:
    sandbox = sandbox_settings(tmp_path).pay  # borrow a generated key pair for a "real" merchant
    return {
        "CHATSHOP__WECHAT__SANDBOX": "off",
        "CHATSHOP__MINIPROGRAM__APP_ID": "wx1234567890abcdef",
        "CHATSHOP__PAY__MCHID": "1230000109",
        "CHATSHOP__PAY__APIV3_KEY": sandbox.apiv3_key.get_secret_value(),
        "CHATSHOP__PAY__MERCHANT_PRIVATE_KEY_PATH": str(sandbox.merchant_private_key_path),
        "CHATSHOP__PAY__MERCHANT_CERT_SERIAL_NO": sandbox.merchant_cert_serial_no,
        "CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_PATH": str(sandbox.platform_public_key_path),
        "CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_ID": sandbox.platform_public_key_id,
        "CHATSHOP__SERVER__PUBLIC_BASE_URL": "https://shop.example.com",
    }


def test_a_real_merchant_goes_to_wechat_pay_itself(tmp_path: Path) -> None:
    settings = load_settings(DEFAULT_CONFIG_PATH, environ=production_environ(tmp_path))
    config = pay_config(settings)
    assert config is not None
    assert config.api_base_url == PRODUCTION_PAY_BASE_URL
    assert config.notify_url == "https://shop.example.com/pay/notify"
    assert build_pay_client(settings) is not None and build_notification_verifier(settings) is not None


def test_without_any_pay_setting_and_no_sandbox_pay_is_off(tmp_path: Path) -> None:
    settings = load_settings(DEFAULT_CONFIG_PATH, environ={"CHATSHOP__WECHAT__SANDBOX": "off"})
    assert pay_config(settings) is None and build_pay_client(settings) is None


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ("CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_ID", "pay.platform_public_key_id"),
        ("CHATSHOP__PAY__APIV3_KEY", "pay.apiv3_key"),
    ],
)
def test_half_a_pay_setup_stops_start_up_naming_what_is_missing(tmp_path: Path, drop: str, message: str) -> None:
    environ = production_environ(tmp_path)
    del environ[drop]
    with pytest.raises(SettingsError, match=message):
        pay_config(load_settings(DEFAULT_CONFIG_PATH, environ=environ))


def test_an_unreadable_key_file_stops_start_up_naming_the_setting(tmp_path: Path) -> None:
    environ = production_environ(tmp_path) | {"CHATSHOP__PAY__MERCHANT_PRIVATE_KEY_PATH": str(tmp_path / "nope.pem")}
    with pytest.raises(SettingsError, match=r"pay\.merchant_private_key_path"):
        pay_config(load_settings(DEFAULT_CONFIG_PATH, environ=environ))


def test_the_apiv3_key_is_never_accepted_from_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "chatshop.yaml"
    config_file.write_text("pay:\n  apiv3_key: abcdefghijklmnopqrstuvwxyz012345\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="CHATSHOP__PAY__APIV3_KEY"):
        load_settings(config_file, environ={})


def test_the_running_app_serves_the_sandbox_gateway_to_its_own_client(
    server_factory: Callable[..., LiveServer],
) -> None:
    # given the service with the sandbox on (the default)
    server = server_factory()
    client = build_pay_client(server.services.settings)
    assert client is not None
    # when it prepays and the simulated customer pays through the control endpoint
    out_trade_no = new_out_trade_no()
    client.prepay_jsapi(out_trade_no=out_trade_no, description="纯棉T恤 白 L", amount_fen=5900,
                        payer_openid="o_wiring", time_expire=datetime.now(UTC) + timedelta(minutes=30))
    with server.client() as http:
        paid = http.post(f"/sandbox/control/pay/{out_trade_no}/pay")
    # then WeChat Pay (the sandbox) says it is paid, and the notification went to this service's /pay/notify
    assert paid.status_code == 200
    assert client.query(out_trade_no).trade_state == TradeState.SUCCESS
    [record] = paid.json()["notifications"]
    assert record["url"] == server.base_url + "/pay/notify"


def test_a_key_file_that_is_not_the_right_key_stops_start_up(tmp_path: Path) -> None:
    environ = production_environ(tmp_path)
    # the merchant's private key where the platform's public key belongs
    environ["CHATSHOP__PAY__PLATFORM_PUBLIC_KEY_PATH"] = environ["CHATSHOP__PAY__MERCHANT_PRIVATE_KEY_PATH"]
    settings = load_settings(DEFAULT_CONFIG_PATH, environ=environ)
    with pytest.raises(SettingsError, match="pay"):
        build_pay_client(settings)
    with pytest.raises(SettingsError, match="platform_public_key_path"):
        build_notification_verifier(settings)
