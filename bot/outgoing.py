"""What the bot can say, as typed values, and how each becomes WeChat's customer-service JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bot.errors import UnsupportedMessage
from bot.models import Channel

# Mini-program customer service accepts only these kinds (WECHAT_RULES.md).
MINI_PROGRAM_KINDS = frozenset({"text", "image", "link", "miniprogrampage"})


@dataclass(frozen=True)
class Text:
    content: str
    kind = "text"


@dataclass(frozen=True)
class MenuItem:
    id: str
    content: str


@dataclass(frozen=True)
class MsgMenu:
    """A "猜你想问" menu; a tap comes back as a text message carrying `bizmsgmenuid`."""

    head: str
    items: tuple[MenuItem, ...]
    tail: str = ""
    kind = "msgmenu"


@dataclass(frozen=True)
class MiniProgramCard:
    title: str
    appid: str
    pagepath: str
    thumb_media_id: str
    kind = "miniprogrampage"


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    url: str
    picurl: str = ""


@dataclass(frozen=True)
class News:
    articles: tuple[Article, ...]
    kind = "news"


@dataclass(frozen=True)
class TransferToKf:
    """Hand the customer to WeChat's own customer-service system (handoff.mode wechat_kf): only ever a
    passive reply, naming the service account when the skill group maps to one."""

    kf_account: str = ""
    kind = "transfer_customer_service"


Outgoing = Text | MsgMenu | MiniProgramCard | News | TransferToKf

# Kinds a passive (in-response) reply can carry; menus and cards only go through the API.
PASSIVE_KINDS = frozenset({"text", "news", "transfer_customer_service"})


def check_sendable(message: Outgoing, channel: Channel) -> None:
    """Refuse what WeChat would refuse for this channel, before anything is recorded as pending."""
    if isinstance(message, TransferToKf):
        raise UnsupportedMessage("a transfer to customer service is only a passive reply")
    if channel is Channel.MP and message.kind not in MINI_PROGRAM_KINDS:
        raise UnsupportedMessage(f"mini-program customer service cannot send {message.kind}")
    if isinstance(message, News) and len(message.articles) != 1:
        raise UnsupportedMessage("a news message holds exactly one article", errcode=45008)
    if isinstance(message, Text) and not message.content:
        raise UnsupportedMessage("empty text", errcode=44003)
    if isinstance(message, MsgMenu) and not message.items:
        raise UnsupportedMessage("a menu needs at least one item", errcode=44003)


def to_body(message: Outgoing) -> dict[str, Any]:
    """The stored form of a message (kind + fields), also what the conversation log shows."""
    return {"kind": message.kind, **asdict(message)}


def from_body(body: dict[str, Any]) -> Outgoing:
    kind = body["kind"]
    fields = {k: v for k, v in body.items() if k != "kind"}
    if kind == "text":
        return Text(**fields)
    if kind == "msgmenu":
        items = tuple(MenuItem(**item) for item in fields["items"])
        return MsgMenu(head=fields["head"], items=items, tail=fields.get("tail", ""))
    if kind == "miniprogrampage":
        return MiniProgramCard(**fields)
    if kind == "news":
        return News(articles=tuple(Article(**a) for a in fields["articles"]))
    if kind == "transfer_customer_service":
        return TransferToKf(**fields)
    raise ValueError(f"unknown stored message kind {kind!r}")


def to_custom_send(message: Outgoing, openid: str) -> dict[str, Any]:
    """The body of POST cgi-bin/message/custom/send."""
    payload: dict[str, Any] = {"touser": openid, "msgtype": message.kind}
    if isinstance(message, Text):
        payload["text"] = {"content": message.content}
    elif isinstance(message, MsgMenu):
        payload["msgmenu"] = {
            "head_content": message.head,
            "list": [{"id": item.id, "content": item.content} for item in message.items],
            "tail_content": message.tail,
        }
    elif isinstance(message, MiniProgramCard):
        payload["miniprogrampage"] = {
            "title": message.title,
            "appid": message.appid,
            "pagepath": message.pagepath,
            "thumb_media_id": message.thumb_media_id,
        }
    elif isinstance(message, News):
        payload["news"] = {"articles": [asdict(a) for a in message.articles]}
    else:
        raise ValueError("a transfer to customer service is only a passive reply")
    return payload
