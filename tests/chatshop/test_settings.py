"""Settings: defaults, environment overrides, one-line errors, secrets kept out of files and logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatshop.cli import main
from chatshop.logs import RedactSecrets, configure_service_logging
from chatshop.sandbox_wiring import with_sandbox_credentials
from chatshop.settings import DEFAULT_CONFIG_PATH, SettingsError, load_settings
from wechat.client import PRODUCTION_API_BASE_URL

AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
REAL_ACCOUNT = {
    "CHATSHOP__WECHAT__APP_ID": "wx49f0ab532d5d035a",
    "CHATSHOP__WECHAT__APP_SECRET": "s3cr3t-app-secret-value",
    "CHATSHOP__WECHAT__TOKEN": "tokenvalue123",
    "CHATSHOP__WECHAT__ENCODING_AES_KEY": AES_KEY,
}


def test_defaults_come_from_config_yaml() -> None:
    settings = load_settings(environ={})
    assert settings.server.port == 8000
    assert settings.wechat.max_clock_skew_s == 300
    assert settings.wechat.reply_budget_ms == 4000
    assert settings.database.url.endswith("/var/chatshop.db")
    assert settings.sandbox_enabled  # no real credentials configured


def test_every_setting_can_come_from_the_environment() -> None:
    settings = load_settings(environ={
        **REAL_ACCOUNT,
        "CHATSHOP__DATABASE__URL": "postgresql://postgres@localhost/test",
        "CHATSHOP__WECHAT__REPLY_BUDGET_MS": "1500",
        "CHATSHOP__WECHAT__SANDBOX": "auto",
        "CHATSHOP__KB__PATH": "/srv/kb.yaml",
    })
    assert settings.database.url == "postgresql://postgres@localhost/test"
    assert settings.wechat.reply_budget_ms == 1500
    assert settings.kb.path == Path("/srv/kb.yaml")
    assert settings.wechat.token.get_secret_value() == "tokenvalue123"
    # Real credentials switch the sandbox off and point the API at WeChat
    assert not settings.sandbox_enabled
    assert settings.api_base_url == PRODUCTION_API_BASE_URL


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CHATSHOP__WECHAT__REPLY_BUDGET_MS": "-5"}, "wechat.reply_budget_ms: Input should be greater than 0"),
        ({"CHATSHOP__SERVER__PORT": "http"}, "server.port: Input should be a valid integer"),
        ({"CHATSHOP__WECHAT__ENCODING_AES_KEY": "short"}, "wechat.encoding_aes_key: must be 43 letters and digits"),
        ({"CHATSHOP__WECHAT__SANDBOX": "maybe"}, "wechat.sandbox: Input should be 'auto', 'on' or 'off'"),
        ({"CHATSHOP__WECHAT__COLOUR": "red"}, "wechat.colour: unknown setting"),
        ({"CHATSHOP__NOPE__X": "1"}, "unknown settings section 'nope'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ=environ)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_secret_is_named_but_never_echoed() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(environ={"CHATSHOP__WECHAT__TOKEN": "bad token with spaces"})
    assert "wechat.token" in str(error.value)
    assert "bad token" not in str(error.value)


def test_a_secret_written_into_the_config_file_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace('wechat:\n', 'wechat:\n  app_secret: "abc"\n', 1),
                      encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings(config, environ={})
    assert "CHATSHOP__WECHAT__APP_SECRET" in str(error.value)


def test_the_cli_prints_one_line_and_exits_2_on_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATSHOP__WECHAT__MAX_CLOCK_SKEW_S", "soon")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("chatshop: configuration error: wechat.max_clock_skew_s")
    assert len(err.splitlines()) == 1


def test_serve_names_a_missing_knowledge_base(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("CHATSHOP__DATABASE__URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("CHATSHOP__KB__PATH", str(tmp_path / "missing.yaml"))
    assert main(["serve", "--port", "1"]) == 2
    assert "kb.path" in capsys.readouterr().err


def test_sandbox_credentials_are_generated_once_and_kept(tmp_path: Path) -> None:
    environ = {"CHATSHOP__SANDBOX__CREDENTIALS_PATH": str(tmp_path / "creds.json")}
    first = with_sandbox_credentials(load_settings(environ=environ))
    again = with_sandbox_credentials(load_settings(environ=environ))
    assert first.wechat.app_id == again.wechat.app_id
    assert len(first.wechat.encoding_aes_key.get_secret_value()) == 43
    assert (tmp_path / "creds.json").stat().st_mode & 0o777 == 0o600
    # The sandbox stays on (and the API local) once its credentials fill the account
    assert first.sandbox_enabled
    assert first.api_base_url == "http://127.0.0.1:8000/sandbox/api/"


def test_secrets_are_masked_in_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("chatshop.test")
    logger.addFilter(RedactSecrets(["s3cr3t-app-secret-value"]))
    with caplog.at_level(logging.INFO, logger="chatshop.test"):
        logger.info("GET /cgi-bin/token?grant_type=client_credential&appid=wx1&secret=%s", "s3cr3t-app-secret-value")
        logger.info("POST /cgi-bin/message/custom/send?access_token=ACCESS.TOKEN.VALUE")
        logger.info("the secret is %s", "s3cr3t-app-secret-value")
    text = caplog.text
    assert "s3cr3t-app-secret-value" not in text
    assert "ACCESS.TOKEN.VALUE" not in text
    assert "secret=***" in text and "access_token=***" in text


def test_settings_repr_never_shows_secrets() -> None:
    settings = load_settings(environ=REAL_ACCOUNT)
    assert "s3cr3t-app-secret-value" not in repr(settings)
    assert "tokenvalue123" not in repr(settings)


def test_every_configured_secret_is_masked_in_the_service_log(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the service's logging, configured from settings that hold every kind of secret
    environ = {
        **REAL_ACCOUNT,
        "CHATSHOP__PAY__APIV3_KEY": "apiv3-key-0123456789abcdef0123456",
        "CHATSHOP__ADMIN__API_KEY": "staff-api-key-value",
    }
    settings = load_settings(environ=environ)
    configure_service_logging(settings)
    try:
        # When a library logs a line that happens to carry them
        logging.getLogger("some.library").warning(
            "request failed: %s %s %s", "apiv3-key-0123456789abcdef0123456", "staff-api-key-value",
            "s3cr3t-app-secret-value",
        )
    finally:
        logging.getLogger().removeHandler(next(h for h in logging.getLogger().handlers if h.get_name() == "chatshop"))
    # Then none of them reaches the log
    logged = capsys.readouterr().err
    assert "request failed" in logged
    for secret in ("apiv3-key-0123456789abcdef0123456", "staff-api-key-value", "s3cr3t-app-secret-value"):
        assert secret not in logged
