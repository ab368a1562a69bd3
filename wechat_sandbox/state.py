"""Everything the sandbox remembers, in one process, behind one lock.

Tokens, each customer's reply window and typing state, tags, subscribe credits, media,
login codes, injected faults, transcripts and the call record. Every public method takes
the lock, so API calls, pushes and control calls from any thread see one consistent state.
Time comes from a Clock that tests can move forward instead of sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from .config import SandboxAccount, SandboxConfig, SandboxRules
from .errors import WeChatError, ok
from .outbound import check_custom_message
from .tags import TagBook
from .templates import Template, check_data, default_library

MEDIA_TTL_S = 3 * 24 * 3600  # temporary media lives three days
MEDIA_LIMITS = {  # bytes, and the errcode WeChat gives when a file is larger
    "image": (10 * 1024 * 1024, 40009),
    "voice": (2 * 1024 * 1024, 40010),
    "video": (10 * 1024 * 1024, 40011),
    "thumb": (64 * 1024, 40012),
}
MAX_CALL_RECORDS = 20000
LOGIN_CODE = re.compile(r"^sandbox:([A-Za-z0-9_-]{1,64}):(\S+)$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
MAX_POPUP_TEMPLATES = 3  # one subscription popup asks for at most three templates
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})

# MsgIds must never repeat, even across /control/reset, or the service's de-duplication
# would swallow a new message: millisecond time in the high bits, a counter in the low ones.
_msg_counter = itertools.count()


def new_msg_id() -> int:
    return (int(time.time() * 1000) << 20) | (next(_msg_counter) & 0xFFFFF)


class Action(Enum):
    """A customer action; each opens (or not) its own reply window."""

    MESSAGE = "message"
    SUBSCRIBE = "subscribe"
    SCAN = "scan"
    CLICK = "click"
    VIEW = "view"
    UNSUBSCRIBE = "unsubscribe"
    ENTER_SESSION = "enter_session"
    PAYMENT = "payment"


NO_EXCHANGE = frozenset({Action.VIEW, Action.UNSUBSCRIBE})  # no conversation: no typing allowed


class Clock:
    """Wall-clock time plus an offset that /control/advance-clock moves forward."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> float:
        return time.time() + self.offset_s


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Window:
    """The customer-service window the last customer action opened."""

    action: str
    expires_at: float
    quota: int | None  # None = unlimited (payment)
    used: int = 0


@dataclass
class Customer:
    openid: str
    following: bool = False
    window: Window | None = None
    last_exchange_at: float | None = None
    typing_until: float | None = None
    credits: dict[str, int] = field(default_factory=dict)  # template_id -> one-time consents left
    transcript: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TokenInfo:
    app_id: str
    expires_at: float
    retired_at: float | None = None  # set when a newer token is fetched (plus the grace period)


@dataclass
class Media:
    media_id: str
    media_type: str
    filename: str
    content_type: str
    data: bytes
    created_at: int


@dataclass
class Fault:
    api: str
    errcode: int
    remaining: int
    app_id: str | None


@dataclass
class AccountState:
    account: SandboxAccount
    tags: TagBook
    customers: dict[str, Customer] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    menu: dict[str, Any] | None = None
    templates: dict[str, Template] = field(default_factory=dict)  # priTmplId -> the picked template


def normalize_api(path: str) -> str:
    """'/api/cgi-bin/x' and 'cgi-bin/x' name the same API."""
    path = path.strip("/")
    return path[len("api/") :] if path.startswith("api/") else path


def window_rule(rules: SandboxRules, kind: str, action: Action) -> tuple[int, int | None] | None:
    """(window seconds, quota) that an action opens, or None if it opens no window."""
    if action is Action.MESSAGE:
        return rules.windows["mp_message" if kind == "mp" else "message"]
    if action in (Action.SUBSCRIBE, Action.SCAN, Action.CLICK):
        return rules.windows["click"]
    if action is Action.ENTER_SESSION:
        return rules.windows["mp_enter"]
    if action is Action.PAYMENT:
        return rules.windows["payment"]
    return None


def unionid_of(openid: str) -> str:
    """The sandbox's person behind an openid: the same openid on either account is the same person."""
    return "un_" + hashlib.sha1(openid.encode("utf-8")).hexdigest()[:25]


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.rules = config.rules
        self.lock = threading.RLock()
        self.clock = Clock()
        self._seq = itertools.count(1)
        # Parts mounted beside the core (the WeChat Pay gateway) that /control/reset also clears.
        self.reset_hooks: list[Callable[[], None]] = []
        self._init_data()

    def _init_data(self) -> None:
        library = default_library()
        self.accounts: dict[str, AccountState] = {
            a.app_id: AccountState(
                account=a, tags=TagBook(self.rules), templates={t.pri_tmpl_id: t for t in library[a.kind]}
            )
            for a in self.config.accounts
        }
        self.tokens: dict[str, TokenInfo] = {}
        self.used_codes: set[tuple[str, str]] = set()
        self.faults: list[Fault] = []
        self.calls: deque[dict[str, Any]] = deque(maxlen=MAX_CALL_RECORDS)

    # ----- lifecycle, clock, accounts -------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clock.offset_s = 0.0
            self._init_data()
        # Outside the lock: a hook takes its own part's lock, never this one's while holding it.
        for hook in self.reset_hooks:
            hook()

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self.clock.offset_s += seconds
            return self.clock.now()

    def now(self) -> float:
        return self.clock.now()

    def resolve_account(self, ref: str | None) -> SandboxAccount | None:
        """An app_id, or "oa"/"mp" for the first account of that kind."""
        if not ref:
            return None
        if ref in self.accounts:
            return self.accounts[ref].account
        return next((a for a in self.config.accounts if a.kind == ref), None)

    def _acct(self, app_id: str) -> AccountState:
        return self.accounts[app_id]

    def _customer(self, app_id: str, openid: str) -> Customer:
        customers = self._acct(app_id).customers
        if openid not in customers:
            customers[openid] = Customer(openid=openid)
        return customers[openid]

    def _known_customer(self, app_id: str, openid: Any) -> Customer:
        customer = self._acct(app_id).customers.get(openid) if isinstance(openid, str) else None
        if customer is None:
            raise WeChatError(40003)
        return customer

    def _append(self, customer: Customer, direction: str, via: str, msgtype: str, payload: Any) -> None:
        entry = {
            "seq": next(self._seq),
            "time": iso_utc(self.now()),
            "direction": direction,
            "via": via,
            "msgtype": msgtype,
            "payload": payload,
        }
        customer.transcript.append(entry)

    # ----- access tokens --------------------------------------------------------------

    def issue_token(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            if query.get("grant_type") != "client_credential":
                raise WeChatError(40002)
            account = self._check_app_credentials(query.get("appid"), query.get("secret"))
            now = self.now()
            # The previous token keeps working for the grace period, then is "not latest".
            for info in self.tokens.values():
                if info.app_id == account.app_id and info.retired_at is None:
                    info.retired_at = now + self.rules.token_grace_s
            token = secrets.token_urlsafe(96)
            self.tokens[token] = TokenInfo(account.app_id, now + self.rules.token_ttl_s)
            return {"access_token": token, "expires_in": self.rules.token_ttl_s}

    def _check_app_credentials(self, app_id: str | None, secret: str | None) -> SandboxAccount:
        if not app_id:
            raise WeChatError(41002)
        if app_id not in self.accounts:
            raise WeChatError(40013)
        if not secret:
            raise WeChatError(41004)
        account = self._acct(app_id).account
        if not secrets.compare_digest(secret, account.app_secret):
            raise WeChatError(40125)
        return account

    def account_for_token(self, token: str | None) -> SandboxAccount:
        with self.lock:
            if not token:
                raise WeChatError(41001)
            info = self.tokens.get(token)
            if info is None:
                raise WeChatError(40001)
            now = self.now()
            if info.retired_at is not None and now >= info.retired_at:
                raise WeChatError(40001)
            if now >= info.expires_at:
                raise WeChatError(42001)
            return self._acct(info.app_id).account

    def expire_tokens(self, app_id: str | None) -> int:
        """Make the live tokens of one account (or all) expire now; returns how many."""
        with self.lock:
            now = self.now()
            count = 0
            for info in self.tokens.values():
                if (app_id is None or info.app_id == app_id) and info.expires_at > now:
                    info.expires_at = now
                    count += 1
            return count

    # ----- faults and the call record ---------------------------------------------------

    def add_fault(self, api: str, errcode: int, times: int, app_id: str | None) -> None:
        with self.lock:
            self.faults.append(Fault(normalize_api(api), errcode, times, app_id))

    def take_fault(self, api: str, app_id: str | None) -> int | None:
        """The errcode of the first pending fault for this call, consuming one use of it."""
        with self.lock:
            for fault in self.faults:
                api_matches = api == fault.api or api.endswith("/" + fault.api)
                if api_matches and fault.app_id in (None, app_id) and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault.errcode
            return None

    def record_call(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append({"seq": next(self._seq), "time": iso_utc(self.now()), **entry})

    def call_record(self, api: str | None, app_id: str | None) -> list[dict[str, Any]]:
        with self.lock:
            wanted = normalize_api(api) if api else None
            return [
                c
                for c in self.calls
                if (wanted is None or c["api"] == wanted or c["api"].endswith("/" + wanted))
                and (app_id is None or c["account"] == app_id)
            ]

    # ----- customer actions (driven by /chat and /control) -----------------------------

    def record_action(
        self, app_id: str, openid: str, action: Action, transcript: tuple[str, Any] | None = None
    ) -> None:
        """A customer did something: reset the window to that action's rule, note the exchange."""
        with self.lock:
            customer = self._customer(app_id, openid)
            now = self.now()
            rule = window_rule(self.rules, self._acct(app_id).account.kind, action)
            if rule is not None:
                seconds, quota = rule
                customer.window = Window(action.value, now + seconds, quota)
            if action not in NO_EXCHANGE:
                customer.last_exchange_at = now
            if action is Action.SUBSCRIBE:
                customer.following = True
            if action is Action.UNSUBSCRIBE:
                # An unfollowed user can no longer be messaged: the window closes with the follow.
                customer.following = False
                customer.window = None
                customer.typing_until = None
            if transcript is not None:
                self._append(customer, "in", "customer", transcript[0], transcript[1])

    def note_passive_reply(self, app_id: str, openid: str, reply: dict[str, Any]) -> None:
        with self.lock:
            customer = self._customer(app_id, openid)
            customer.last_exchange_at = self.now()
            customer.typing_until = None  # a message to the user ends "typing"
            payload = {k: v for k, v in reply.items() if k != "msgtype"}
            self._append(customer, "out", "passive", reply["msgtype"], payload)

    def add_consent(self, app_id: str, openid: str, template_id: str, count: int) -> int:
        with self.lock:
            credits = self._customer(app_id, openid).credits
            credits[template_id] = credits.get(template_id, 0) + count
            return credits[template_id]

    def transcript(self, app_id: str, openid: str) -> list[dict[str, Any]]:
        with self.lock:
            customer = self._acct(app_id).customers.get(openid)
            return list(customer.transcript) if customer else []

    def window_info(self, app_id: str, openid: str) -> dict[str, Any] | None:
        with self.lock:
            customer = self._acct(app_id).customers.get(openid)
            if customer is None:
                return None
            window = customer.window
            return {
                "openid": openid,
                "following": customer.following,
                "window": None
                if window is None
                else {
                    "action": window.action,
                    "expires_at": iso_utc(window.expires_at),
                    "open": self.now() < window.expires_at,
                    "quota": window.quota,
                    "used": window.used,
                },
                "credits": dict(customer.credits),
                "tags": self._acct(app_id).tags.tags_of(openid),
            }

    # ----- custom messages and typing ---------------------------------------------------

    def send_custom(self, app_id: str, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            account = self._acct(app_id).account
            customer = self._known_customer(app_id, message.get("touser"))
            msgtype, body = check_custom_message(account.kind, message, lambda m: self._media_ok(app_id, m))
            self._use_window(customer)
            customer.last_exchange_at = self.now()
            customer.typing_until = None
            self._append(customer, "out", "custom_send", msgtype, body)
            return ok()

    def _use_window(self, customer: Customer) -> None:
        window = customer.window
        if window is None or self.now() >= window.expires_at:
            raise WeChatError(45015)
        if window.quota is not None and window.used >= window.quota:
            raise WeChatError(45047)
        window.used += 1

    def typing(self, app_id: str, message: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            customer = self._known_customer(app_id, message.get("touser"))
            command = message.get("command")
            if command not in ("Typing", "CancelTyping"):
                raise WeChatError(47001, "command must be Typing or CancelTyping")
            now = self.now()
            last = customer.last_exchange_at
            if last is None or now - last > self.rules.typing_exchange_s:
                raise WeChatError(45080)
            if command == "CancelTyping":
                customer.typing_until = None
                return ok()
            if customer.typing_until is not None and now < customer.typing_until:
                raise WeChatError(45081)
            customer.typing_until = now + self.rules.typing_lasts_s
            return ok()

    # ----- media ------------------------------------------------------------------------

    def store_media(self, app_id: str, media_type: str, filename: str, content_type: str, data: bytes) -> Media:
        with self.lock:
            if media_type not in MEDIA_LIMITS:
                raise WeChatError(40004)
            limit, errcode = MEDIA_LIMITS[media_type]
            if len(data) > limit:
                raise WeChatError(errcode)
            media = Media(
                media_id=secrets.token_urlsafe(48),
                media_type=media_type,
                filename=filename,
                content_type=content_type,
                data=data,
                created_at=int(self.now()),
            )
            self._acct(app_id).media[media.media_id] = media
            return media

    def _media_ok(self, app_id: str, media_id: str) -> bool:
        media = self._acct(app_id).media.get(media_id)
        return media is not None and self.now() - media.created_at < MEDIA_TTL_S

    def get_media(self, app_id: str, media_id: str) -> Media:
        with self.lock:
            if not self._media_ok(app_id, media_id):
                raise WeChatError(40007)
            return self._acct(app_id).media[media_id]

    # ----- tags -------------------------------------------------------------------------

    def tag_book(self, app_id: str) -> TagBook:
        return self._acct(app_id).tags

    def known_openids(self, app_id: str) -> set[str]:
        return set(self._acct(app_id).customers)

    # ----- subscribe messages -----------------------------------------------------------

    def templates(self, app_id: str) -> list[Template]:
        with self.lock:
            return list(self._acct(app_id).templates.values())

    def put_template(self, app_id: str, template: Template) -> bool:
        """Add a template to the account's library, or replace the one with its id; True if replaced."""
        with self.lock:
            library = self._acct(app_id).templates
            replaced = template.pri_tmpl_id in library
            library[template.pri_tmpl_id] = template
            return replaced

    def send_subscribe(self, app_id: str, message: dict[str, Any]) -> dict[str, Any]:
        # WeChat's order: the user, the template, the options and data, and only then the consent.
        with self.lock:
            customer = self._known_customer(app_id, message.get("touser"))
            template_id = message.get("template_id")
            template = self._acct(app_id).templates.get(template_id) if isinstance(template_id, str) else None
            if template is None:
                raise WeChatError(40037)
            self._check_subscribe_options(message)
            data = check_data(template, message.get("data"))
            if customer.credits.get(template.pri_tmpl_id, 0) <= 0:
                raise WeChatError(43101)
            if template.one_time:  # a long-term subscription is not used up by a send
                customer.credits[template.pri_tmpl_id] -= 1
            payload: dict[str, Any] = {
                k: message[k] for k in ("template_id", "page", "data", "miniprogram") if k in message
            }
            # What the user's card shows: the title and the template's label: value lines.
            payload["title"] = template.title
            payload["lines"] = template.lines(data)
            self._append(customer, "out", "subscribe", "subscribe", payload)
            return ok()

    def _library_templates(self, app_id: str, template_ids: list[str]) -> list[Template]:
        library = self._acct(app_id).templates
        unknown = [t for t in template_ids if t not in library]
        if unknown:
            raise ValueError(f"not in the account's template library: {', '.join(unknown)}")
        return [library[t] for t in template_ids]

    def subscribe_popup(self, app_id: str, openid: str, results: dict[str, str]) -> dict[str, int]:
        """The user answered a subscription popup: one credit per accepted template.

        Raises ValueError for a popup WeChat could not show (no template, more than three, or a
        template outside the account's library). Returns the credits left per template asked.
        """
        with self.lock:
            if not 1 <= len(results) <= MAX_POPUP_TEMPLATES:
                raise ValueError(f"a popup asks for 1 to {MAX_POPUP_TEMPLATES} templates")
            templates = self._library_templates(app_id, list(results))
            customer = self._customer(app_id, openid)
            for template in templates:
                if results[template.pri_tmpl_id] == "accept":
                    customer.credits[template.pri_tmpl_id] = customer.credits.get(template.pri_tmpl_id, 0) + 1
            answers = [{"template_id": t.pri_tmpl_id, "title": t.title, "status": results[t.pri_tmpl_id]}
                       for t in templates]
            self._append(customer, "in", "customer", "event", {"event": "subscribe_msg_popup_event", "list": answers})
            return {t.pri_tmpl_id: customer.credits.get(t.pri_tmpl_id, 0) for t in templates}

    def subscribe_change(self, app_id: str, openid: str, template_ids: list[str]) -> dict[str, int]:
        """The user turned templates off in their notification settings: the consents left are void."""
        with self.lock:
            if not template_ids:
                raise ValueError("name at least one template")
            templates = self._library_templates(app_id, template_ids)
            customer = self._customer(app_id, openid)
            for template in templates:
                customer.credits[template.pri_tmpl_id] = 0
            answers = [{"template_id": t.pri_tmpl_id, "title": t.title, "status": "reject"} for t in templates]
            self._append(customer, "in", "customer", "event", {"event": "subscribe_msg_change_event", "list": answers})
            return {t.pri_tmpl_id: 0 for t in templates}

    @staticmethod
    def _check_subscribe_options(message: dict[str, Any]) -> None:
        state = message.get("miniprogram_state")
        if state is not None and state not in MINIPROGRAM_STATES:
            raise WeChatError(47003, "miniprogram_state")
        lang = message.get("lang")
        if lang is not None and lang not in LANGS:
            raise WeChatError(47003, "lang")
        if "page" in message and not isinstance(message["page"], str):
            raise WeChatError(47003, "page")

    # ----- mini-program login -----------------------------------------------------------

    def code_to_session(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            app_id = query.get("appid")
            if app_id and app_id in self.accounts and self._acct(app_id).account.kind != "mp":
                raise WeChatError(40013, "not a mini-program appid")
            account = self._check_app_credentials(app_id, query.get("secret"))
            if query.get("grant_type") != "authorization_code":
                raise WeChatError(40002)
            code = query.get("js_code")
            if not code:
                raise WeChatError(41008)
            match = LOGIN_CODE.match(code)
            if match is None or (account.app_id, code) in self.used_codes:
                raise WeChatError(40029)
            self.used_codes.add((account.app_id, code))
            openid = match.group(1)
            self._customer(account.app_id, openid)
            return {
                "openid": openid,
                "session_key": base64.b64encode(os.urandom(16)).decode("ascii"),
                "unionid": unionid_of(openid),
            }

    # ----- menu -------------------------------------------------------------------------

    def set_menu(self, app_id: str, menu: dict[str, Any] | None) -> None:
        with self.lock:
            self._acct(app_id).menu = menu

    def menu(self, app_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self._acct(app_id).menu

    def user_info(self, app_id: str, openid: Any) -> dict[str, Any]:
        with self.lock:
            customer = self._known_customer(app_id, openid)
            if not customer.following:
                return ok(subscribe=0, openid=customer.openid)
            tags = self._acct(app_id).tags.tags_of(customer.openid)
            # The account is bound to the store's open platform, so WeChat names the person's unionid.
            return ok(subscribe=1, openid=customer.openid, tagid_list=tags, language="zh_CN",
                      unionid=unionid_of(customer.openid))
