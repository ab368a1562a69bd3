"""The WeChat API client: one base URL moves every API it calls, and every failure is a WeChatApiError.

wechatpy hard-codes the token URL and gives some API groups (wxa, customservice) their own absolute
base; `_RelocatedClient` rewrites all of them, so one setting points the whole client at WeChat or at
the sandbox. As in wechatpy, the calls are grouped by API: `client.customer_service`, `client.media`,
`client.tags`, `client.subscribe`, `client.login` and `client.users`, each a module of this package.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from urllib3.exceptions import NewConnectionError
from wechatpy import WeChatClient as _LibraryClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

from .customer_service import CustomerServiceApi
from .errors import IN_DOUBT_ERRCODE, TRANSPORT_ERRCODE, WeChatApiError
from .login import LoginApi
from .media import MediaApi
from .subscribe import SubscribeApi
from .tags import TagsApi
from .tokens import SharedLock
from .users import UsersApi

log = logging.getLogger(__name__)

PRODUCTION_API_BASE_URL = "https://api.weixin.qq.com/"
HTTP_POOL_SIZE = 32  # kept connections to WeChat; more than the threads that call it at once
# How long a token read from the shared store is reused before reading it again. WeChat keeps an old
# token valid for 5 minutes after a new one is fetched, so a copy this young is never one it refuses.
TOKEN_REUSE_S = 2.0
LOCK_POLL_S = 0.05  # how often a process waiting for another's token refresh looks again
T = TypeVar("T")


class _RecentTokens(SessionStorage):  # type: ignore[misc]
    """The shared token store, read at most every TOKEN_REUSE_S per key and process.

    Every call carries the access token, and with the database as the store reading it was a
    transaction per call: as much time as the call to WeChat itself when subscribe messages go out by
    the thousand. Writes and deletes go straight through (and replace the copy), so a token this
    process fetched is used at once, and one it dropped after 40001/42001 is not used again."""

    def __init__(self, store: SessionStorage, reuse_s: float = TOKEN_REUSE_S) -> None:
        self._store, self._reuse_s = store, reuse_s
        self._lock = threading.Lock()
        self._refreshes = threading.Lock()
        self._recent: dict[str, tuple[Any, float]] = {}

    def get(self, key: str, default: Any = None) -> Any:
        now = time.monotonic()
        with self._lock:
            found = self._recent.get(key)
        if found is not None and found[1] > now:
            return found[0]
        value = self._store.get(key, default)
        if value is not None and value is not default:
            with self._lock:
                self._recent[key] = (value, now + self._reuse_s)
        return value

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        self._store.set(key, value, ttl)
        with self._lock:
            self._recent.pop(key, None)

    def delete(self, key: str) -> None:
        self._store.delete(key)
        with self._lock:
            self._recent.pop(key, None)

    def fresh(self, key: str) -> Any:
        """The shared store's value now, not this process's copy."""
        with self._lock:
            self._recent.pop(key, None)
        return self.get(key)

    @contextmanager
    def refreshing(self, key: str, lease_s: float) -> Iterator[None]:
        """Hold the right to fetch `key` anew: one thread of this process, and, where the store has a
        shared lock, one process of all; the others wait here, then find the new value in the store."""
        with self._refreshes:
            store = self._store
            if not isinstance(store, SharedLock):
                yield
                return
            holder = secrets.token_hex(8)
            deadline = time.monotonic() + lease_s + 1
            while not store.try_lock(key, holder, lease_s):
                if time.monotonic() > deadline:  # never reached while the holder lives: its lease ends first
                    log.warning("no lock on %s after %.0f s; fetching without it", key, lease_s)
                    break
                time.sleep(LOCK_POLL_S)
            try:
                yield
            finally:
                store.unlock(key, holder)


class _RelocatedClient(_LibraryClient):  # type: ignore[misc]
    def __init__(self, app_id: str, secret: str, base_url: str, session: _RecentTokens, timeout: float):
        super().__init__(app_id, secret, session=session, timeout=timeout, auto_retry=True)
        self._tokens = session
        self._refused = threading.local()  # the token of the call WeChat just refused (40001/42001)
        # A fetch holding the lock longer than this is taken to have died (wechatpy's fetch has no timeout).
        self._refresh_lease_s = 2 * timeout + 5
        # requests keeps 10 connections per host by default; the bot's, the messenger's and the
        # mini-program API's threads call WeChat at once, and a full pool drops connections.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=HTTP_POOL_SIZE)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self._base_url = base_url
        self.API_BASE_URL = base_url + "cgi-bin/"

    def _relocate(self, url: str) -> str:
        if url.startswith(PRODUCTION_API_BASE_URL):
            return self._base_url + url.removeprefix(PRODUCTION_API_BASE_URL)
        return url

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        if "api_base_url" in kwargs:
            kwargs["api_base_url"] = self._relocate(kwargs["api_base_url"])
        return super()._request(method, self._relocate(url_or_endpoint), **kwargs)

    def _handle_result(self, res: Any, method: Any = None, url: Any = None, result_processor: Any = None,
                       **kwargs: Any) -> Any:
        # wechatpy refreshes from in here when WeChat refuses the token: note which token that was.
        params = kwargs.get("params")
        self._refused.token = params.get("access_token") if isinstance(params, dict) else None
        try:
            return super()._handle_result(res, method, url, result_processor, **kwargs)
        finally:
            self._refused.token = None

    def fetch_access_token(self) -> Any:
        """A new token, fetched by one process of all: each fetch retires the token before it, so processes
        that each fetched their own would keep invalidating one another's. Under the shared lock, a token
        in the store other than the one WeChat just refused is one another process fetched meanwhile."""
        refused = getattr(self._refused, "token", None)
        with self._tokens.refreshing(self.access_token_key, self._refresh_lease_s):
            current = self._tokens.fresh(self.access_token_key)
            if current and current != refused:
                result: Any = {"access_token": current}
            else:
                result = self._fetch_access_token(
                    url=self._base_url + "cgi-bin/token",
                    params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
                )
        # The store's entry, which runs out a little before WeChat's, says when to fetch again, the same
        # for every process; wechatpy's own per-process expiry would have each one refresh on its own.
        self.expires_at = None
        return result


class WeChatClient:
    """One account's client (Official Account or mini-program); thread-safe, sharing its token store."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        base_url: str = PRODUCTION_API_BASE_URL,
        token_store: SessionStorage,
        timeout_s: float = 5.0,
    ) -> None:
        self.app_id = app_id
        self._client = _RelocatedClient(app_id, app_secret, base_url, _RecentTokens(token_store), timeout_s)
        self.customer_service = CustomerServiceApi(self._client, self.call)
        self.media = MediaApi(self._client, self.call)
        self.tags = TagsApi(self._client, self.call)
        self.subscribe = SubscribeApi(self._client, self.call)
        self.login = LoginApi(self._client, self.call)
        self.users = UsersApi(self._client, self.call)

    def access_token(self) -> str:
        return self.call(lambda: str(self._client.access_token))

    def call(self, request: Callable[[], T]) -> T:
        """Run one request through wechatpy, turning every failure into WeChatApiError."""
        try:
            return request()
        except WeChatClientException as exc:
            if isinstance(exc.errcode, int):
                raise WeChatApiError(exc.errcode, str(exc.errmsg)) from None
            raise WeChatApiError(IN_DOUBT_ERRCODE, "HTTP error from WeChat") from None
        except requests.RequestException as exc:
            raise WeChatApiError(transport_errcode(exc), type(exc).__name__) from None


def transport_errcode(exc: requests.RequestException) -> int:
    """Whether a request that failed in transport may be resent (it never left) or not (in doubt)."""
    if isinstance(exc, requests.ConnectTimeout):
        return TRANSPORT_ERRCODE
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):
        return TRANSPORT_ERRCODE
    return IN_DOUBT_ERRCODE
