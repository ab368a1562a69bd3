"""A verified push as the conversation layer sees it: one customer message or event, typed.

Verification and decryption are the platform's (`wechat.push`); this module names what the push
means to a conversation: who, which channel, which reply window it opens, how it is de-duplicated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werobot.parser import process_message

from bot.models import Channel, WindowAction
from wechat.errors import PushRefusal, PushRefused
from wechat.push import Push

# The push fields of a mini-program page a customer sends, by the names the conversation log keeps.
SHARED_PAGE_FIELDS = {"title": "Title", "appid": "AppId", "pagepath": "PagePath", "thumb_url": "ThumbUrl",
                      "thumb_media_id": "ThumbMediaId"}


@dataclass(frozen=True)
class Inbound:
    """One customer message or event, as the conversation layer sees it."""

    channel: Channel
    openid: str
    kind: str  # text, image, voice, ..., or the event name (subscribe, click, user_enter_tempsession)
    create_time: int
    msg_id: int | None
    content: str = ""
    event_key: str = ""
    menu_id: str = ""  # bizmsgmenuid: the tapped msgmenu item
    session_from: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)
    encrypted: bool = False

    @property
    def is_event(self) -> bool:
        return self.msg_id is None

    @property
    def dedupe_key(self) -> str:
        # WeChat retries carry the same MsgId; events have none, so sender + time identifies them
        # (plus the event's name: a follow and an unfollow can share a second).
        if self.msg_id is not None:
            return f"{self.channel}:msg:{self.msg_id}"
        return f"{self.channel}:event:{self.openid}:{self.create_time}:{self.kind}"

    @property
    def shared_page(self) -> dict[str, str]:
        """A mini-program page the customer sent (a `miniprogrampage` message): title, appid, pagepath
        and its thumbnail (a URL and a media id); empty for anything else."""
        if self.kind != "miniprogrampage":
            return {}
        return {name: str(self.fields.get(field) or "") for name, field in SHARED_PAGE_FIELDS.items()}

    @property
    def window_action(self) -> WindowAction | None:
        """Which customer-service window this action opens (None: it opens none)."""
        if self.channel is Channel.MP:
            if self.kind == "user_enter_tempsession":
                return WindowAction.MP_ENTER
            return None if self.is_event else WindowAction.MP_MESSAGE
        if self.kind in ("subscribe", "click", "scan"):
            return WindowAction.CLICK
        return None if self.is_event else WindowAction.MESSAGE



def inbound_from_push(push: Push, channel: Channel) -> Inbound:
    """The typed message of a verified push (werobot reads the message types)."""
    fields, encrypted = dict(push.fields), push.encrypted
    try:
        message = process_message(dict(fields))  # werobot's typed message
        msg_type = str(fields["MsgType"]).lower()
        event = str(fields.get("Event", "")).lower()
        msg_id = fields.get("MsgId") or fields.get("MsgID")
        return Inbound(
            channel=channel,
            openid=str(fields["FromUserName"]),
            kind=event if msg_type == "event" else msg_type,
            create_time=int(fields["CreateTime"]),
            msg_id=int(msg_id) if msg_id and msg_type != "event" else None,
            content=str(getattr(message, "content", "") or ""),
            event_key=str(fields.get("EventKey", "") or ""),
            menu_id=str(fields.get("bizmsgmenuid", "") or ""),
            session_from=str(fields.get("SessionFrom", "") or ""),
            fields=fields,
            encrypted=encrypted,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise PushRefused(PushRefusal.MALFORMED, f"missing or bad field: {exc}") from None
