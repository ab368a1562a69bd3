"""Makes a card the actions composed sendable on the channel it goes to, before it reaches the outbox.

Actions compose cards in WeChat's shape, naming an image rather than a media id (they do no I/O, and a
media id belongs to one account): `{"title", "pagepath", "appid"?, "image" | "thumb_media_id",
"fallback"?}`. Here the card gets the store's mini-program appid when it names none, and a thumbnail
uploaded to the channel's own account. What cannot be made sendable becomes its fallback text (or
its title): the customer gets the answer as text, never a card WeChat would refuse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.cards.errors import CardError
from bot.cards.thumbnails import Thumbnails
from bot.models import Channel
from bot.outgoing import MiniProgramCard, Text
from wechat.client import WeChatClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardResolver:
    thumbnails: Thumbnails
    clients: Mapping[Channel, WeChatClient]
    mp_app_id: str  # the store's mini-program; "" when it has none

    def resolve(self, card: Mapping[str, Any], channel: Channel) -> MiniProgramCard | Text:
        title, pagepath = str(card["title"]), str(card["pagepath"])
        appid = str(card.get("appid") or self.mp_app_id)
        if channel is Channel.OA and not appid:
            # An Official Account's card must name the mini-program it opens.
            log.warning("card %r sent as text: the store has no mini-program appid to open", title)
            return fallback_text(card)
        try:
            thumb = self._thumbnail(card, channel)
        except CardError as exc:
            log.warning("card %r sent as text on %s: %s", title, channel, exc.message)
            return fallback_text(card)
        return MiniProgramCard(title, appid, pagepath, thumb)

    def _thumbnail(self, card: Mapping[str, Any], channel: Channel) -> str:
        image = str(card.get("image") or "")
        if not image:  # a media id the card came with (an older KB); the store vouches for it
            media_id = str(card.get("thumb_media_id") or "")
            if not media_id:
                raise CardError("the card names no image")
            return media_id
        client = self.clients.get(channel)
        if client is None:
            raise CardError(f"no WeChat account for {channel}")
        return self.thumbnails.media_id(client, image)


def fallback_text(card: Mapping[str, Any]) -> Text:
    return Text(str(card.get("fallback") or card["title"]))
