"""The XML WeChat pushes to a webhook and the passive-reply XML it reads back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, TypeAlias

XmlValue = str | int
# An element holds text, a number, or child elements (<SubscribeMsgPopupEvent><List>...</List>).
XmlNode: TypeAlias = "str | int | Sequence[tuple[str, XmlNode]]"
XmlFields = Sequence[tuple[str, XmlNode]]


def cdata(text: str) -> str:
    # "]]>" cannot appear inside CDATA: close the section and reopen it around the ">".
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _render(fields: XmlFields, lines: list[str]) -> None:
    for tag, value in fields:
        if isinstance(value, int):
            lines.append(f"<{tag}>{value}</{tag}>")
        elif isinstance(value, str):
            lines.append(f"<{tag}>{cdata(value)}</{tag}>")
        else:
            lines.append(f"<{tag}>")
            _render(value, lines)
            lines.append(f"</{tag}>")


def render_xml(fields: XmlFields) -> str:
    """WeChat's layout: strings in CDATA, numbers bare, one element per line."""
    lines = ["<xml>"]
    _render(fields, lines)
    lines.append("</xml>")
    return "\n".join(lines)


def parse_xml(text: str) -> ET.Element:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if root.tag != "xml":
        raise ValueError("the root element must be <xml>")
    return root


def child_text(node: ET.Element, tag: str) -> str | None:
    found = node.find(tag)
    return None if found is None else (found.text or "")


def _articles(root: ET.Element) -> list[dict[str, str]]:
    items = root.findall("./Articles/item")
    return [
        {
            "title": child_text(item, "Title") or "",
            "description": child_text(item, "Description") or "",
            "picurl": child_text(item, "PicUrl") or "",
            "url": child_text(item, "Url") or "",
        }
        for item in items
    ]


def _media_fields(root: ET.Element, group: str, names: dict[str, str]) -> dict[str, str]:
    node = root.find(group)
    if node is None:
        return {}
    return {key: child_text(node, tag) or "" for key, tag in names.items()}


def reply_fields(root: ET.Element) -> dict[str, Any]:
    """A passive reply as a dict {"msgtype", ...fields} (field names as in custom/send JSON)."""
    msgtype = child_text(root, "MsgType") or ""
    reply: dict[str, Any] = {"msgtype": msgtype}
    if msgtype == "text":
        reply["content"] = child_text(root, "Content") or ""
    elif msgtype in ("image", "voice"):
        reply.update(_media_fields(root, msgtype.capitalize(), {"media_id": "MediaId"}))
    elif msgtype == "video":
        names = {"media_id": "MediaId", "title": "Title", "description": "Description"}
        reply.update(_media_fields(root, "Video", names))
    elif msgtype == "music":
        names = {
            "title": "Title",
            "description": "Description",
            "musicurl": "MusicUrl",
            "hqmusicurl": "HQMusicUrl",
            "thumb_media_id": "ThumbMediaId",
        }
        reply.update(_media_fields(root, "Music", names))
    elif msgtype == "news":
        reply["articles"] = _articles(root)
        reply["article_count"] = int(child_text(root, "ArticleCount") or len(reply["articles"]))
    elif msgtype == "transfer_customer_service":
        reply["kf_account"] = child_text(root, "./TransInfo/KfAccount")
    return reply
