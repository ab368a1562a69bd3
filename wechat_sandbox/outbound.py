"""Shape checks for custom/send bodies, in the order WeChat applies them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import AccountKind
from .errors import WeChatError

OA_TYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "miniprogrampage", "msgmenu", "link"}
)
# Mini-program customer service is narrower than an Official Account's.
MP_TYPES = frozenset({"text", "image", "link", "miniprogrampage"})
MAX_NEWS_ARTICLES = 1

MediaCheck = Callable[[str], bool]


def _require_str(body: dict[str, Any], field: str, msgtype: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise WeChatError(47001, f"{msgtype}.{field} missing")
    return value


def _require_media(body: dict[str, Any], field: str, msgtype: str, media_ok: MediaCheck) -> None:
    value = body.get(field)
    if not isinstance(value, str) or not media_ok(value):
        raise WeChatError(40007, f"{msgtype}.{field}")


def _check_text(body: dict[str, Any]) -> None:
    content = body.get("content")
    if not isinstance(content, str) or not content:
        raise WeChatError(44004)


def _check_news_count(message: dict[str, Any]) -> None:
    news = message.get("news")
    articles = news.get("articles") if isinstance(news, dict) else None
    if not isinstance(articles, list) or not articles:
        raise WeChatError(47001, "news.articles missing")
    if len(articles) > MAX_NEWS_ARTICLES:
        raise WeChatError(45008)
    if not isinstance(articles[0], dict) or not articles[0].get("title"):
        raise WeChatError(47001, "news.articles[0].title missing")


def _check_msgmenu(body: dict[str, Any]) -> None:
    items = body.get("list")
    if not isinstance(items, list) or not items:
        raise WeChatError(47001, "msgmenu.list missing")
    for item in items:
        if not isinstance(item, dict) or not item.get("id") or not isinstance(item.get("content"), str):
            raise WeChatError(47001, "msgmenu.list items need id and content")


def _check_body(kind: AccountKind, msgtype: str, body: dict[str, Any], media_ok: MediaCheck) -> None:
    if msgtype == "text":
        _check_text(body)
    elif msgtype in ("image", "voice", "video"):
        _require_media(body, "media_id", msgtype, media_ok)
    elif msgtype == "music":
        _require_str(body, "musicurl", msgtype)
        _require_media(body, "thumb_media_id", msgtype, media_ok)
    elif msgtype == "mpnews":
        _require_str(body, "media_id", msgtype)  # permanent material: not simulated, any id passes
    elif msgtype == "miniprogrampage":
        _require_str(body, "pagepath", msgtype)
        if kind == "oa":  # the OA form names the mini-program; the mini-program's own form does not
            _require_str(body, "appid", msgtype)
        _require_media(body, "thumb_media_id", msgtype, media_ok)
    elif msgtype == "msgmenu":
        _check_msgmenu(body)
    elif msgtype == "link":
        _require_str(body, "title", msgtype)
        _require_str(body, "url", msgtype)


def check_custom_message(
    kind: AccountKind, message: dict[str, Any], media_ok: MediaCheck
) -> tuple[str, dict[str, Any]]:
    """Validate a custom/send body (touser already checked); return (msgtype, the type's body)."""
    msgtype = message.get("msgtype")
    if not isinstance(msgtype, str) or msgtype not in OA_TYPES:
        raise WeChatError(40008)
    if msgtype == "news":
        _check_news_count(message)
    if kind == "mp" and msgtype not in MP_TYPES:
        raise WeChatError(40008, f"mini-program customer service cannot send {msgtype}")
    body = message.get(msgtype)
    if not isinstance(body, dict):
        raise WeChatError(47001, f"{msgtype} body missing")
    _check_body(kind, msgtype, body, media_ok)
    return msgtype, body
