"""WeChat message pushes for the benchmark: signed, AES-encrypted, built ahead of the timed phases.

Each push is the complete HTTP request as bytes, so the load generator's only per-request work in a
timed phase is one socket write and one read.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import secrets
import string
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto


@dataclass(frozen=True, slots=True)
class Question:
    """A customer's question and a fragment of chatshop's right answer to it (from the demo KB, the
    NLU training data and config.yaml's texts), so a reply is checked for what it says."""

    text: str
    expect: str
    # The bot does not understand it: it asks to rephrase, and offers a person (a menu, which only the
    # customer-service API can send) if the next message fails too. The load never sends two running.
    fallback: bool = False


# Questions a clothing/beauty shop's customers ask, each of which chatshop answers passively (in the
# response): FAQ answers, small talk, the size form's question, and the first fallback stage. Left
# out on purpose: questions the bot answers with a "猜你想问" menu or by handing over to a person
# ("人工"); those go out later through the customer-service API and would count as errors here.
QUESTIONS: tuple[Question, ...] = (
    Question("什么时候发货", "付款当天发出"), Question("亲，请问什么时候发货呀", "付款当天发出"),
    Question("运费多少", "包邮"), Question("发什么快递", "中通"), Question("怎么退货", "申请售后"),
    Question("退款多久到账", "原路退款"), Question("我一米六五穿什么码", "体重"),
    Question("衣服会缩水吗", "缩水"), Question("口红保质期多久", "保质期"), Question("敏感肌能用吗", "试用"),
    Question("可以开发票吗", "申请开票"), Question("优惠券怎么用", "领券中心"),
    Question("怎么修改收货地址", "修改地址"), Question("积分怎么用", "积分"), Question("实体店在哪里", "北京路"),
    Question("你好", "店铺小助手"), Question("谢谢", "不客气"),
    Question("你们老板是谁", "换个说法", fallback=True), Question("今天天气怎么样", "换个说法", fallback=True),
)  # fmt: skip

ANSWERED = tuple(question for question in QUESTIONS if not question.fallback)

OWN_ID = "gh_x"  # the Official Account's original id, as WeChat puts it in ToUserName
ALPHANUMERIC = string.ascii_letters + string.digits
# chatshop refuses pushes whose timestamp is more than max_clock_skew_s (300 s) away from its clock;
# a push built longer ago than this is rebuilt rather than sent.
MAX_PUSH_AGE_S = 240.0


@dataclass(frozen=True)
class Account:
    """The Official Account's push credentials, generated per run and shared by both servers."""

    token: str
    aes_key: str
    app_id: str

    @classmethod
    def generate(cls) -> Account:
        return cls(
            token="".join(secrets.choice(ALPHANUMERIC) for _ in range(32)),
            aes_key="".join(secrets.choice(ALPHANUMERIC) for _ in range(43)),
            app_id="wx" + secrets.token_hex(8),
        )

    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.app_id)


@dataclass(frozen=True, slots=True)
class Push:
    request: bytes  # the whole HTTP request, ready to write
    openid: str
    question: Question
    built_at: float  # time.time(): the push's timestamp

    @property
    def fresh(self) -> bool:
        return time.time() - self.built_at < MAX_PUSH_AGE_S


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class PushFactory:
    def __init__(self, account: Account, host: str, port: int, path: str = "/wechat") -> None:
        self._account = account
        self._crypto = account.crypto()
        self._host = f"{host}:{port}"
        self._path = path
        # chatshop de-duplicates by MsgId, durably: microseconds since the epoch as the first id keeps
        # ids unique across runs too, which matters when a PostgreSQL database is kept between runs.
        self._msg_ids = itertools.count(time.time_ns() // 1000)
        self._random = random.Random()
        self._last_fallback: set[str] = set()  # customers whose last built push was a fallback question

    def build(self, openid: str, question: Question | None = None, *, after_fallback: bool = False) -> Push:
        """A push of `question`, or of a random one (not a fallback question right after one)."""
        now = time.time()
        timestamp, nonce = str(int(now)), str(self._random.randrange(10**9, 10**10))
        question = question or self._pick(openid, after_fallback)
        encrypt = self._encrypt(self._inner_xml(openid, timestamp, question.text), nonce, timestamp)
        query = urlencode({
            "signature": signature(self._account.token, timestamp, nonce),
            "timestamp": timestamp, "nonce": nonce, "openid": openid, "encrypt_type": "aes",
            "msg_signature": signature(self._account.token, timestamp, nonce, encrypt),
        })  # fmt: skip
        body = f"<xml><ToUserName><![CDATA[{OWN_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return Push(self._http_request(query, body.encode()), openid, question, now)

    def _pick(self, openid: str, after_fallback: bool) -> Question:
        after_fallback = after_fallback or openid in self._last_fallback
        question = self._random.choice(ANSWERED if after_fallback else QUESTIONS)
        if question.fallback:
            self._last_fallback.add(openid)
        else:
            self._last_fallback.discard(openid)
        return question

    def url_check(self, echostr: str) -> str:
        """The path and query of WeChat's GET URL check, which proves the server has our token."""
        timestamp, nonce = str(int(time.time())), str(self._random.randrange(10**9, 10**10))
        query = urlencode({"signature": signature(self._account.token, timestamp, nonce),
                           "timestamp": timestamp, "nonce": nonce, "echostr": echostr})
        return f"{self._path}?{query}"

    def _inner_xml(self, openid: str, timestamp: str, question: str) -> str:
        return (
            f"<xml><ToUserName><![CDATA[{OWN_ID}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{question}]]></Content><MsgId>{next(self._msg_ids)}</MsgId></xml>"
        )

    def _encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        sealed = ET.fromstring(self._crypto.encrypt_message(xml, nonce, timestamp))
        return sealed.findtext("Encrypt") or ""

    def _http_request(self, query: str, body: bytes) -> bytes:
        head = (
            f"POST {self._path}?{query} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


def verify_reply(crypto: WeChatCrypto, push: Push, body: bytes, *, echo: bool) -> str | None:
    """Decrypt a reply and check it answers this push; the problem as a short reason, or None if right.

    The replies come from a server this process started, so the standard-library parser is safe here.
    """
    try:
        outer = ET.fromstring(body)
        encrypt, timestamp, nonce, msg_signature = (
            outer.findtext(tag) or "" for tag in ("Encrypt", "TimeStamp", "Nonce", "MsgSignature")
        )
        inner = ET.fromstring(crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce))
    except Exception as exc:  # any failure to open the reply makes it wrong; which one is in the reason
        return f"cannot decrypt reply ({type(exc).__name__})"
    fields = {child.tag: child.text or "" for child in inner}
    if fields.get("ToUserName") != push.openid or fields.get("FromUserName") != OWN_ID:
        return "reply addressed wrongly"
    if fields.get("MsgType") != "text" or not fields.get("Content"):
        return "reply is not a non-empty text"
    if echo and fields["Content"] != push.question.text:
        return "echo differs from the question"
    if not echo and push.question.expect not in fields["Content"]:
        return f"wrong answer to {push.question.text!r}"
    return None
