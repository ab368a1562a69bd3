"""Logging set-up that keeps secrets and customers' personal data out of every log line, ours and the
libraries' (uvicorn's access log included).

Masked in every line, exception tracebacks too:
  - credential query parameters (`secret=`, `access_token=` ...) and the configured secret values;
  - openids: WeChat's (`o` + 27 characters), the sandbox's and tests' (`o_alice`), and any value given
    as `openid=`/`"openid": `/`<FromUserName>` or in a path `/customers/<openid>/`. An openid becomes
    `o***` plus 6 hex digits of its hash: lines about one customer still match each other;
  - mainland mobile numbers (with +86, spaces or dashes): `138****8000`;
  - addresses: the value of an `address`/`detail` member, and Chinese address-like spans in any text
    (a chat message, an exception): 广东省广州市天河区体育西路100号 → `[地址]`.

The filter runs on every line, so it is kept cheap: patterns compiled once, each run only when a substring
test says it may match or starting with a literal character the search skips to, addresses looked for only
in lines that are not ASCII, and a line with nothing to mask left untouched (bench/log_masking.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatshop.settings import Settings

_ID = "[A-Za-z0-9_-]"


def _after_words(words: Iterable[str], tail: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per word, each starting with its word: run only on lines holding the word, and searched
    for fast (a pattern with a literal start skips to it; a choice of words, \\b or IGNORECASE would not)."""
    return tuple((word, re.compile(re.escape(word) + tail)) for word in words)


# Query parameters that carry credentials (WeChat puts them in URLs, which access logs print).
_SECRET_PARAMS = _after_words(("secret=", "access_token=", "js_code=", "session_key=", "encoding_aes_key="),
                              r"[^&\s\"']+")
# A value named as an openid: openid=x, "openid": "x", 'payer_openid': 'x', <FromUserName><![CDATA[x.
# Not one masked already (o***1a2b3c): masking a line twice changes nothing.
_OPENID_VALUE = rf"({_ID}{{1,64}})(?![A-Za-z0-9_*-])"
_KEYED_OPENIDS = (
    _after_words(("openid", "unionid", "touser", "FromUserName", "OpenId"), r"([\"']?\s*[:=]\s*[\"']?)" + _OPENID_VALUE)
    + _after_words(("<FromUserName>",), r"(\s*(?:<!\[CDATA\[)?)" + _OPENID_VALUE)
)
# An openid in a path: /admin/customers/<openid>/revoke-logins (the staff API's customer ids are numbers).
_PATH_OPENID = re.compile(rf"/customers/(?!\d+\b)({_ID}{{1,64}})(?![A-Za-z0-9_*-])")
# WeChat's own openids and unionids: `o` + 27, with a capital or a digit among them, so that a snake_case
# word of 28 letters is left alone; the sandbox's and the tests': `o_` + the rest of an openid. The
# pattern starts with its literal `o` (the boundary is a lookbehind after it) so that it is searched fast.
_BARE_OPENID = re.compile(rf"o(?<!{_ID}o)(?:_{_ID}{{1,62}}|(?={_ID}{{0,26}}[A-Z0-9]){_ID}{{27}})(?!{_ID})")
# Mainland mobile numbers, with +86, spaces or dashes (starts with its literal `1`, as above).
_PHONE = re.compile(r"1(?:(?<![0-9A-Za-z]1)|(?<=861)|(?<=86 1)|(?<=86-1))[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9A-Za-z])")
# The value of an address member in a dict's repr, JSON or key=value: 'detail': '体育西路 100 号'.
_KEYED_ADDRESSES = _after_words(("detail", "address", "addr", "street"),
                                r"([\"']?\s*[:=]\s*)([\"'])(?:[^\"'\\\n]|\\.){1,400}?\2")
# Chinese addresses are found from their number (100号, 8 楼, 3栋, 1001室) back to where the run of
# address characters before it starts, and kept only when that run names a place (…省 …市 …区 …路):
# linear in the line, where one pattern trying every start would not be.
_ADDRESS_NUMBER = re.compile(r"[0-9０-９一二三四五六七八九十百甲乙丙]\s*(?:号|栋|幢|座|单元|室|楼|层|弄)")
_ADDRESS_HEAD = re.compile(r"[\u4e00-\u9fff0-9０-９A-Za-z#\- ]{0,40}")  # matched on the reversed text
_PLACE = re.compile(r"省|自治区|市|州|盟|区|县|旗|镇|乡|路|街|道|巷|弄|胡同|村|里|小区|花园|大厦|广场|公寓|苑")
# What follows the number up to a break goes too (5号楼1001室, SOHO现代城).
_ADDRESS_REST = re.compile(r"[^\s，。,;；、：:!！?？'\"<>()（）\[\]{}]{0,40}")

ADDRESS_MASK = "[地址]"


def openid_mask(openid: str) -> str:
    """How an openid appears in the logs: `o***` and 6 hex digits of its BLAKE2b hash."""
    return "o***" + hashlib.blake2b(openid.encode(), digest_size=3).hexdigest()


def phone_mask(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def mask_personal_data(text: str) -> str:
    """The text with openids, mobile numbers and addresses masked. Each pattern runs only when a cheap
    substring test says it may match, or starts with a literal character the search skips to."""
    for word, pattern in _KEYED_OPENIDS:
        if word in text:
            text = pattern.sub(partial(_masked_keyed_openid, word), text)
    if "/customers/" in text:
        text = _PATH_OPENID.sub(lambda m: "/customers/" + openid_mask(m.group(1)), text)
    for word, pattern in _KEYED_ADDRESSES:
        if word in text:
            text = pattern.sub(partial(_masked_keyed_address, word), text)
    text = _BARE_OPENID.sub(lambda m: openid_mask(m.group(0)), text)
    text = _PHONE.sub(lambda m: phone_mask(m.group(0)), text)
    if not text.isascii():  # only Chinese text can hold a Chinese address
        text = mask_addresses(text)
    return text


def _masked_keyed_openid(word: str, match: re.Match[str]) -> str:
    return f"{word}{match.group(1)}{openid_mask(match.group(2))}"


def _masked_keyed_address(word: str, match: re.Match[str]) -> str:
    quote = match.group(2)
    return f"{word}{match.group(1)}{quote}{ADDRESS_MASK}{quote}"


def mask_addresses(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for number in _ADDRESS_NUMBER.finditer(text):
        if number.start() < done:
            continue
        before = text[max(done, number.start() - 40):number.start()]
        head = _ADDRESS_HEAD.match(before[::-1])
        start = number.start() - (head.end() if head else 0)
        while text[start] == " ":
            start += 1
        if not _PLACE.search(text, start, number.start()):
            continue
        rest = _ADDRESS_REST.match(text, number.end())
        pieces += [text[done:start], ADDRESS_MASK]
        done = rest.end() if rest else number.end()
    return "".join(pieces) + text[done:] if pieces else text


class RedactSecrets(logging.Filter):
    """Masks credentials, the configured secret values and customers' personal data in any record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        self._templates: dict[str, str] = {}  # a log call's format string, masked (there are few)

    def mask(self, text: str) -> str:
        """The text with every secret and every piece of personal data masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        for word, pattern in _SECRET_PARAMS:
            if word in text:
                text = pattern.sub(f"{word}***", text)
        return mask_personal_data(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            self._rewrite(record, masked)
        if record.exc_info and record.exc_info[0] is not None:
            # Formatted here (or as another handler's formatter left it), so that what a formatter prints of it
            # is masked too: an exception's message can carry a request body, SQL parameters, a customer's text.
            record.exc_text = self.mask(record.exc_text or _TRACEBACKS.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


    def _rewrite(self, record: logging.LogRecord, masked: str) -> None:
        """Keep the record's arguments when masking each of them gives the same line: formatters such as
        uvicorn's access log read `record.args`. Otherwise the masked line replaces message and arguments."""
        args = record.args
        if isinstance(args, tuple) and args:
            # An argument found whole in the masked line had nothing to mask (the check below makes sure).
            masked_args = tuple(self.mask(a) if isinstance(a, str) and a not in masked else a for a in args)
            template = self._masked_template(str(record.msg))
            try:
                same = template % masked_args == masked
            except (TypeError, ValueError):
                same = False
            if same:
                record.msg, record.args = template, masked_args
                return
        record.msg, record.args = masked, None

    def _masked_template(self, template: str) -> str:
        masked = self._templates.get(template)
        if masked is None:
            if len(self._templates) >= 1024:
                self._templates.clear()  # format strings built at run time must not grow it for ever
            masked = self._templates[template] = self.mask(template)
        return masked


_TRACEBACKS = logging.Formatter()


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    redact = RedactSecrets(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redact)
    handler.set_name("chatshop")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "chatshop"]:
        root.removeHandler(old)  # configuring twice must not print every line twice
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs full URLs (with secrets) at DEBUG; uvicorn's loggers bring their own handlers.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: two lines a job every 30 s say nothing.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for uv_handler in logging.getLogger(name).handlers:
            uv_handler.addFilter(redact)


def configure_service_logging(settings: Settings) -> None:
    """Log to stderr with every configured secret masked, in our lines and the libraries'."""
    accounts = (settings.wechat, settings.miniprogram)
    secrets = [
        secret.get_secret_value()
        for account in accounts
        for secret in (account.app_secret, account.token, account.encoding_aes_key)
    ] + [settings.pay.apiv3_key.get_secret_value(), settings.admin.api_key.get_secret_value(),
         settings.data.keys.get_secret_value(), settings.data.index_key.get_secret_value()]
    configure_logging(settings.logging.level, secrets)
