"""Settings: config.yaml holds every setting with its default; the environment overrides any of them.

`CHATSHOP__<SECTION>__<KEY>=value` overrides `section.key`. Secrets are accepted only from the
environment, are held as `SecretStr` so they never print, and a secret written into a config file
stops start-up. A bad setting stops start-up with one line naming it (`SettingsError`).
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from bot.handoff.config import HandoffMode, parse_hours
from foundation import fast_yaml
from storage.sealing import SealingError, decode_key, parse_keys
from wechat.client import PRODUCTION_API_BASE_URL
from wechat.push import MessageMode

ENV_PREFIX = "CHATSHOP__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.yaml"

# Settings that only the environment may set.
SECRET_KEYS = {
    ("wechat", "app_secret"),
    ("wechat", "token"),
    ("wechat", "encoding_aes_key"),
    ("miniprogram", "app_secret"),
    ("miniprogram", "token"),
    ("miniprogram", "encoding_aes_key"),
    ("pay", "apiv3_key"),
    ("admin", "api_key"),
    ("data", "keys"),
    ("data", "index_key"),
}


class SettingsError(Exception):
    """A setting is missing or invalid; the message is the one line start-up prints."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SandboxMode(StrEnum):
    AUTO = "auto"  # on when no real WeChat credentials are configured
    ON = "on"
    OFF = "off"


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_base_url: str = ""
    workers: int = Field(1, ge=1, le=64)  # processes sharing the port (`chatshop serve --workers N`)
    graceful_shutdown_s: int = Field(10, ge=1, le=300)  # on SIGTERM, for requests under way, then deferred replies


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/chatshop.db"
    echo: bool = False


class RedisSettings(_Section):
    url: str = ""
    key_prefix: str = Field("chatshop:", min_length=1, max_length=64)  # deployments sharing one Redis differ here


class LoggingSettings(_Section):
    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()


class AccountSettings(_Section):
    """One WeChat account that pushes messages to us (Official Account or mini-program)."""

    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    message_mode: MessageMode = MessageMode.SAFE
    original_id: str = ""

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        allowed = set(string.ascii_letters + string.digits)
        if raw and (len(raw) != 43 or not set(raw) <= allowed):
            raise ValueError("must be 43 letters and digits (the EncodingAESKey from the WeChat console)")
        return value

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        allowed = set(string.ascii_letters + string.digits)
        if raw and (not 3 <= len(raw) <= 32 or not set(raw) <= allowed):
            raise ValueError("must be 3 to 32 letters and digits")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self.app_secret.get_secret_value() and self.token.get_secret_value())


class WechatSettings(AccountSettings):
    sandbox: SandboxMode = SandboxMode.AUTO
    api_base_url: str = ""
    max_clock_skew_s: int = Field(300, ge=0)
    reply_budget_ms: int = Field(4000, gt=0, le=4900)
    max_body_bytes: int = Field(65536, ge=1024)
    dedupe_ttl_s: int = Field(86400, ge=60)
    request_timeout_s: float = Field(5.0, gt=0)

    @field_validator("sandbox", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        # YAML reads a bare on/off as a boolean.
        if isinstance(value, bool):
            return SandboxMode.ON if value else SandboxMode.OFF
        return value


class MessengerSettings(_Section):
    user_message_window_s: int = Field(172800, gt=0)
    user_message_quota: int = Field(5, gt=0)
    click_window_s: int = Field(60, gt=0)
    click_quota: int = Field(3, gt=0)
    payment_window_s: int = Field(172800, gt=0)
    mp_message_window_s: int = Field(172800, gt=0)
    mp_message_quota: int = Field(5, gt=0)
    mp_enter_window_s: int = Field(60, gt=0)
    mp_enter_quota: int = Field(2, gt=0)
    max_attempts: int = Field(4, ge=1)
    retry_backoff_s: float = Field(0.5, gt=0)
    outbox_poll_s: float = Field(1.0, gt=0)
    typing_exchange_s: int = Field(30, gt=0)
    typing_lasts_s: int = Field(15, gt=0)


class KbSettings(_Section):
    path: Path = Path("var/kb.yaml")
    answer_threshold: float = Field(0.42, gt=0, le=1)  # score at or above which the bot answers
    suggest_threshold: float = Field(0.3, gt=0, le=1)  # at or above (but below answer): "猜你想问" menu

    @model_validator(mode="after")
    def _suggest_below_answer(self) -> KbSettings:
        if self.suggest_threshold > self.answer_threshold:
            raise ValueError("suggest_threshold must not exceed answer_threshold")
        return self


class NluSettings(_Section):
    """Intent classification and entities (chatshop.dialogue_setup builds the parser from these)."""

    training_data: Path = Path("chatshop/demo/nlu.yml")  # Rasa 3 YAML or legacy Markdown
    intent_threshold: float = Field(0.5, ge=0, le=1)  # below it the intent is "not sure" (nlu_fallback)
    size_chart: Path = Path("chatshop/demo/size_chart.yaml")
    catalog_fallback: Path = Path("chatshop/demo/catalog.yaml")  # product names while the catalog is empty
    products_refresh_s: float = Field(60.0, gt=0)  # how often product names are re-read from the catalog


class ActionsSettings(_Section):
    """`chatshop actions serve`: the dialogue actions as a Rasa action server."""

    host: str = "127.0.0.1"
    port: int = Field(5055, ge=1, le=65535)


class BotSettings(_Section):
    welcome: str = "欢迎关注！我是店铺小助手，可以回答发货、退换、尺码、美妆等问题。"
    mp_welcome: str = "您好！我是店铺小助手，可以回答发货、退换、尺码、美妆等问题。"
    menu_head: str = "猜你想问："
    menu_tail: str = "点击问题即可查看回答"
    menu_size: int = Field(5, ge=1, le=10)
    fallback: str = "抱歉，这个问题我还不太会回答，您可以换个说法，或回复「人工」联系客服。"


class PaySettings(_Section):
    """WeChat Pay API v3. The APIv3 key is a secret (CHATSHOP__PAY__APIV3_KEY); key files are paths."""

    mchid: str = ""
    appid: str = ""  # the mini-program's app id when empty
    apiv3_key: SecretStr = SecretStr("")
    merchant_private_key_path: Path | None = None
    merchant_cert_serial_no: str = ""
    platform_public_key_path: Path | None = None
    platform_public_key_id: str = ""
    api_base_url: str = ""  # empty: https://api.mch.weixin.qq.com/, or the sandbox's gateway when it is on
    notify_url: str = ""  # empty: this service's /pay/notify
    refund_notify_url: str = ""  # empty: this service's /pay/refund-notify
    request_timeout_s: float = Field(10.0, gt=0)
    order_ttl_s: int = Field(1800, gt=0)
    max_clock_skew_s: int = Field(300, ge=0)


class MpApiSettings(_Section):
    """The mini-program's JSON API under /mp/."""

    session_ttl_s: int = Field(604800, gt=0)  # a login's bearer token expires after this
    max_body_bytes: int = Field(16384, ge=1024)  # larger request bodies to /mp/ and /admin/ get 413
    notify_max_body_bytes: int = Field(65536, ge=1024)  # larger bodies to /pay/notify are refused unread
    wechat_workers: int = Field(16, ge=1, le=256)  # threads for login and WeChat Pay calls (bounds them)


class AdminSettings(_Section):
    """Staff endpoints under /admin/ need this key (CHATSHOP__ADMIN__API_KEY); unset, they are closed."""

    api_key: SecretStr = SecretStr("")


class StaffSettings(_Section):
    """Staff accounts and the staff API under /staff/api/ (sessions, failed logins, bounds)."""

    session_idle_s: int = Field(1800, gt=0)  # a session unused this long has ended
    session_max_age_s: int = Field(43200, gt=0)  # any session ends this long after its login
    login_max_failures: int = Field(5, ge=1)  # failed logins of one username from one address in the window
    login_max_failures_per_address: int = Field(20, ge=1)  # failed logins of any usernames from one address
    login_window_s: int = Field(900, gt=0)  # the sliding window both limits count in
    max_chats_limit: int = Field(20, ge=1, le=500)  # the most concurrent conversations an account may take
    min_password_length: int = Field(10, ge=8, le=128)


class RateLimitsSettings(_Section):
    """Requests per window_s to login and checkout, from one client address and for one customer or staff
    username (0: no limit); in Redis when redis.url is set, else per process. Over: 429 with Retry-After."""

    enabled: bool = True
    window_s: int = Field(60, ge=1, le=86400)
    mp_login_per_address: int = Field(60, ge=0)  # POST /mp/login
    mp_login_per_customer: int = Field(10, ge=0)  # ... for the openid the code logs in
    checkout_per_address: int = Field(60, ge=0)  # POST /mp/checkout
    checkout_per_customer: int = Field(10, ge=0)
    staff_login_per_address: int = Field(30, ge=0)  # POST /staff/api/login (before staff.login_max_failures)
    staff_login_per_username: int = Field(10, ge=0)


class OrdersSettings(_Section):
    """Carts and orders (the unpaid-order lifetime is pay.order_ttl_s)."""

    max_quantity: int = Field(99, ge=1, le=9999)  # units of one SKU per cart line
    max_cart_lines: int = Field(50, ge=1, le=500)
    auto_deliver_days: int = Field(10, ge=1)  # a shipped order counts as delivered after this
    auto_complete_days: int = Field(7, ge=1)  # a delivered order is completed after this


class SchedulerSettings(_Section):
    """Background jobs (APScheduler) run inside `chatshop serve`."""

    enabled: bool = True
    expire_interval_s: float = Field(30.0, gt=0)
    reconcile_interval_s: float = Field(60.0, gt=0)
    reconcile_after_s: int = Field(300, ge=0)  # pending orders this old with no notification are queried
    refund_retry_interval_s: float = Field(60.0, gt=0)
    advance_interval_s: float = Field(3600.0, gt=0)
    lease_ttl_s: float = Field(30.0, ge=1, le=3600)  # each job runs in the one process holding its lease


class TagsSettings(_Section):
    """Customer tags: the rules file and the sync to the Official Account's user tags."""

    rules_path: Path = Path("var/tag_rules.yaml")  # reloaded within a second of an edit
    sync_interval_s: float = Field(60.0, gt=0)  # how often tag changes are applied to WeChat


class SkillGroupSettings(_Section):
    """One skill group: what routes there, and when its staff are in."""

    name: str = Field(min_length=1, max_length=40)
    intents: list[str] = []  # a handoff whose message had one of these intents goes here
    tags: list[str] = []  # ... or a customer with a live tag matching one of these (glob patterns: 意向客户-*)
    hours: dict[str, str] = {}  # weekday or range → "HH:MM-HH:MM[,...]", e.g. mon-fri: "09:00-21:00"; empty: always
    closed_dates: list[date] = []  # holidays: closed all day
    kf_account: str = ""  # handoff.mode wechat_kf: WeChat's customer-service account for this group

    @field_validator("hours")
    @classmethod
    def _hours_parse(cls, hours: dict[str, str]) -> dict[str, str]:
        parse_hours(hours)  # ValueError names the bad weekday or interval
        return hours


class RoutingSettings(_Section):
    """Skill groups a handoff is routed to (the first is where anything unmatched goes)."""

    timezone: str = "Asia/Shanghai"  # business hours are in the store's time
    groups: list[SkillGroupSettings] = [SkillGroupSettings(name="客服")]

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        return check_timezone(timezone)

    @field_validator("groups")
    @classmethod
    def _distinct_groups(cls, groups: list[SkillGroupSettings]) -> list[SkillGroupSettings]:
        names = [group.name for group in groups]
        if not names:
            raise ValueError("at least one skill group")
        if len(set(names)) != len(names):
            raise ValueError("skill group names must differ")
        return groups


class HandoffSettings(_Section):
    """Human handoff: chatshop's own queue (agents in the staff API), or WeChat's customer-service system."""

    mode: HandoffMode = HandoffMode.QUEUE
    queue_timeout_s: int = Field(600, gt=0)  # queued, untaken this long: the customer told again, supervisors alerted
    agent_reply_timeout_s: int = Field(300, gt=0)  # customer unanswered this long: agent reminded; twice: re-queued
    customer_silence_s: int = Field(1800, gt=0)  # customer silent this long after an agent's answer: resolved
    long_queue: int = Field(3, ge=0)  # the customer hears their place when more than this many wait before them
    check_interval_s: float = Field(30.0, gt=0)  # how often the timeouts job runs


def check_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {timezone!r}") from None
    return timezone


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from 7200, "7200", "2h", "30m", "1d"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 7200, 30m, 2h or 1d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class OutreachSettings(_Section):
    """Subscribe messages: the template registry, order notices and campaign sending."""

    templates_path: Path = Path("var/subscribe_templates.yaml")  # reloaded within a second of an edit
    timezone: str = "Asia/Shanghai"  # times in messages, quiet hours
    miniprogram_state: Literal["developer", "trial", "formal"] = "formal"  # which build a message opens
    notice_interval_s: float = Field(2.0, gt=0)  # how often order events are turned into notices
    expiring_warning_s: int = Field(600, ge=0)  # an unpaid order is reminded this long before it closes; 0: never
    campaign_interval_s: float = Field(5.0, gt=0)  # how often scheduled campaigns are started and sent
    campaign_batch: int = Field(200, ge=1, le=1000)  # recipients claimed per transaction
    campaign_workers: int = Field(16, ge=1, le=64)  # WeChat calls in flight at once while sending

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, timezone: str) -> str:
        return check_timezone(timezone)


class RemindersSettings(_Section):
    """Abandoned-cart reminders."""

    cart_delay: float = 7200.0  # a cart untouched this long (7200, "2h", "90m") gets one reminder
    max_per_week: int = Field(2, ge=0)  # reminders one customer gets in 7 days, at most
    quiet_hours: str = "22:00-08:00"  # store time: nothing is sent then; held until it ends ("": none)
    holdout_pct: int = Field(10, ge=0, le=50)  # this share of customers is never reminded (to measure the lift)
    low_stock: int = Field(5, ge=0)  # at or below this stock the reminder says 即将售罄
    lookback_days: int = Field(7, ge=1)  # carts untouched longer than this are let go
    interval_s: float = Field(60.0, gt=0)  # how often carts are looked at

    @field_validator("cart_delay", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("cart_delay must be positive")
        return seconds

    @field_validator("quiet_hours")
    @classmethod
    def _hours_shape(cls, value: str) -> str:
        if value.strip() and not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", value.strip()):
            raise ValueError("quiet_hours must look like 22:00-08:00 (or be empty)")
        return value.strip()


class AnalyticsSettings(_Section):
    """The 数据 page: tracking in the mini-program and the roll-up into daily aggregates (store days are
    routing.timezone's)."""

    track: bool = True  # record product views (with their src), add-to-cart and checkout
    rollup_interval_s: float = Field(300.0, gt=0)  # how often today is rolled up
    recheck_days: int = Field(1, ge=0, le=31)  # days before today rolled up again each time (late events)
    attribution_days: int = Field(7, ge=1, le=90)  # a purchase is credited to a page opened this long before


class MediaSettings(_Section):
    """Product and card images, and the thumbnails uploaded to WeChat for mini-program cards."""

    images_dir: Path = Path("var/images")  # served at /images/ (the demo store's at /images/demo/)
    fetch_timeout_s: float = Field(3.0, gt=0)  # an image named by URL must arrive within this
    max_image_bytes: int = Field(65536, ge=1024, le=65536)  # WeChat takes thumbnails up to 64 KB
    thumb_ttl_s: int = Field(259200, gt=0)  # WeChat forgets a temporary media id after 3 days
    thumb_renew_before_s: int = Field(21600, ge=0)  # a thumbnail is uploaded again this long before that

    @model_validator(mode="after")
    def _renewed_before_expiry(self) -> MediaSettings:
        if self.thumb_renew_before_s >= self.thumb_ttl_s:
            raise ValueError("thumb_renew_before_s must be less than thumb_ttl_s")
        return self


class DataSettings(_Section):
    """Customers' personal data sealed at rest (chatshop.data_keys). Both are secrets: environment only."""

    keys: SecretStr = SecretStr("")  # "k2:<base64 32 bytes>,k1:<base64>": the first seals, every one opens
    index_key: SecretStr = SecretStr("")  # base64 of 32 bytes: keys the hash that phone search looks up

    @field_validator("keys")
    @classmethod
    def _keys_shape(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                parse_keys(value.get_secret_value())
            except SealingError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("index_key")
    @classmethod
    def _index_key_shape(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            try:
                decode_key(value.get_secret_value(), what="the index key")
            except SealingError as exc:
                raise ValueError(str(exc)) from None
        return value


class SandboxSettings(_Section):
    credentials_path: Path = Path("var/sandbox-credentials.json")
    # The sandbox's WeChat Pay platform key; generated under var/ when unset.
    pay_platform_private_key_path: Path | None = None


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    logging: LoggingSettings = LoggingSettings()
    wechat: WechatSettings = WechatSettings()
    miniprogram: AccountSettings = AccountSettings()
    messenger: MessengerSettings = MessengerSettings()
    kb: KbSettings = KbSettings()
    bot: BotSettings = BotSettings()
    nlu: NluSettings = NluSettings()
    actions: ActionsSettings = ActionsSettings()
    pay: PaySettings = PaySettings()
    mp_api: MpApiSettings = MpApiSettings()
    admin: AdminSettings = AdminSettings()
    staff: StaffSettings = StaffSettings()
    rate_limits: RateLimitsSettings = RateLimitsSettings()
    orders: OrdersSettings = OrdersSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    media: MediaSettings = MediaSettings()
    tags: TagsSettings = TagsSettings()
    routing: RoutingSettings = RoutingSettings()
    handoff: HandoffSettings = HandoffSettings()
    outreach: OutreachSettings = OutreachSettings()
    reminders: RemindersSettings = RemindersSettings()
    analytics: AnalyticsSettings = AnalyticsSettings()
    data: DataSettings = DataSettings()
    sandbox: SandboxSettings = SandboxSettings()

    @property
    def sandbox_enabled(self) -> bool:
        mode = self.wechat.sandbox
        return mode is SandboxMode.ON or (mode is SandboxMode.AUTO and not self.wechat.configured)

    @property
    def api_base_url(self) -> str:
        """Where every WeChat API call goes: the real servers, or the sandbox this process serves."""
        if self.wechat.api_base_url:
            return _with_trailing_slash(self.wechat.api_base_url)
        if self.sandbox_enabled:
            return f"{self.local_base_url}/sandbox/api/"
        return PRODUCTION_API_BASE_URL

    @property
    def local_base_url(self) -> str:
        if self.server.public_base_url:
            return self.server.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.server.host in ("0.0.0.0", "::") else self.server.host
        return f"http://{host}:{self.server.port}"


def _with_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def load_settings(
    config_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file, apply environment overrides, validate, and resolve paths."""
    path = (config_path or DEFAULT_CONFIG_PATH).resolve()
    environ = os.environ if environ is None else environ
    raw = _read_config_file(path)
    _refuse_secrets_in_file(raw, path)
    _apply_environment(raw, environ)
    settings = _validate(raw)
    return _resolve_paths(settings, base=path.parent)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        loaded = fast_yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {_one_line(exc)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"config file {path} must hold a mapping of sections")
    return {str(k): dict(v or {}) if isinstance(v, dict) or v is None else v for k, v in loaded.items()}


def _refuse_secrets_in_file(raw: Mapping[str, Any], path: Path) -> None:
    for section, key in sorted(SECRET_KEYS):
        block = raw.get(section)
        if isinstance(block, dict) and block.get(key):
            env_name = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
            raise SettingsError(
                f"{section}.{key}: secrets are read only from the environment ({env_name}), "
                f"remove it from {path}"
            )


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise SettingsError(f"{name}: expected {ENV_PREFIX}<SECTION>__<KEY>")
        section, key = parts
        if section not in Settings.model_fields:
            raise SettingsError(f"{name}: unknown settings section '{section}'")
        block = raw.setdefault(section, {})
        if not isinstance(block, dict):
            raise SettingsError(f"{section}: must be a mapping")
        # Strings as given: pydantic's lax mode turns "300" and "true" into the field's type. A list or
        # mapping (routing.groups) comes as JSON.
        block[key] = _json_or_text(name, value)


def _json_or_text(name: str, value: str) -> Any:
    if not value.lstrip().startswith(("[", "{")):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name}: a list or mapping must be JSON ({exc.msg} at {exc.pos})") from None


def _validate(raw: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        got = first.get("input")
        shown = "" if _is_secret_location(first["loc"]) or isinstance(got, dict) else f" (got {got!r})"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown setting"
        raise SettingsError(f"{where}: {message}{shown}") from None


def _is_secret_location(loc: tuple[Any, ...]) -> bool:
    return len(loc) >= 2 and (str(loc[0]), str(loc[1])) in SECRET_KEYS


def _resolve_paths(settings: Settings, *, base: Path) -> Settings:
    def resolve(p: Path) -> Path:
        return p if p.is_absolute() else (base / p).resolve()

    def resolve_key(p: Path | None) -> Path | None:
        return None if p is None else resolve(p)

    database = settings.database
    url = database.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        url = "sqlite:///" + str(resolve(Path(url.removeprefix("sqlite:///"))))
    return settings.model_copy(
        update={
            "database": database.model_copy(update={"url": url}),
            "kb": settings.kb.model_copy(update={"path": resolve(settings.kb.path)}),
            "tags": settings.tags.model_copy(update={"rules_path": resolve(settings.tags.rules_path)}),
            "outreach": settings.outreach.model_copy(
                update={"templates_path": resolve(settings.outreach.templates_path)}),
            "media": settings.media.model_copy(update={"images_dir": resolve(settings.media.images_dir)}),
            "nlu": settings.nlu.model_copy(update={
                key: resolve(getattr(settings.nlu, key)) for key in ("training_data", "size_chart", "catalog_fallback")
            }),
            "sandbox": settings.sandbox.model_copy(
                update={
                    "credentials_path": resolve(settings.sandbox.credentials_path),
                    "pay_platform_private_key_path": resolve_key(settings.sandbox.pay_platform_private_key_path),
                }
            ),
            "pay": settings.pay.model_copy(
                update={
                    "merchant_private_key_path": resolve_key(settings.pay.merchant_private_key_path),
                    "platform_public_key_path": resolve_key(settings.pay.platform_public_key_path),
                }
            ),
        }
    )


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
