"""The first bot: a welcome with a "猜你想问" menu, FAQ answers, and a polite fallback."""

from __future__ import annotations

from typing import Protocol

from bot.config import DialogueConfig
from bot.inbound import Inbound
from bot.models import Channel
from bot.outgoing import MenuItem, MiniProgramCard, MsgMenu, Outgoing, Text
from intents.kb import Faq, KnowledgeBaseSource

# Message kinds the bot reads; anything else (location, link, unknown types) gets no answer.
MEDIA_KINDS = frozenset({"image", "voice", "video", "shortvideo"})
MEDIA_REPLY = "收到啦～目前我只能看懂文字，请用文字描述您的问题，或回复「人工」联系客服。"
CLICK_FAQ_PREFIX = "faq:"


class Responder(Protocol):
    """Anything that answers an inbound message with messages to send."""

    def respond(self, inbound: Inbound) -> list[Outgoing]: ...


class Dialogue:
    def __init__(self, *, kb: KnowledgeBaseSource, config: DialogueConfig) -> None:
        self._kb = kb
        self._config = config

    def respond(self, inbound: Inbound) -> list[Outgoing]:
        if inbound.kind in ("subscribe", "user_enter_tempsession"):
            return self._welcome(inbound.channel)
        if inbound.kind == "click" and inbound.event_key.startswith(CLICK_FAQ_PREFIX):
            return self._answer_by_id(inbound.event_key.removeprefix(CLICK_FAQ_PREFIX))
        if inbound.kind == "text":
            if inbound.menu_id:
                return self._answer_by_id(inbound.menu_id)
            return self._answer_question(inbound.content)
        if inbound.kind in MEDIA_KINDS:
            return [Text(MEDIA_REPLY)]
        return []

    def _welcome(self, channel: Channel) -> list[Outgoing]:
        welcome = Text(self._config.welcome if channel is Channel.OA else self._config.mp_welcome)
        popular = self._kb.knowledge_base().popular(self._config.menu_size)
        if not popular:
            return [welcome]
        if channel is Channel.MP:
            # Mini-program service cannot send menus: list the questions in the text instead.
            lines = "\n".join(f"· {faq.question}" for faq in popular)
            return [Text(f"{self._config.mp_welcome}\n{self._config.menu_head}\n{lines}")]
        items = tuple(MenuItem(id=faq.id, content=faq.question) for faq in popular)
        return [welcome, MsgMenu(head=self._config.menu_head, items=items, tail=self._config.menu_tail)]

    def _answer_by_id(self, faq_id: str) -> list[Outgoing]:
        faq = self._kb.knowledge_base().by_id(faq_id)
        return _faq_reply(faq) if faq else [Text(self._config.fallback)]

    def _answer_question(self, text: str) -> list[Outgoing]:
        faq = self._kb.matcher().match(text).answer
        return _faq_reply(faq) if faq else [Text(self._config.fallback)]


def _faq_reply(faq: Faq) -> list[Outgoing]:
    """An FAQ's answer: its text, its mini-program card, or both (text first)."""
    replies: list[Outgoing] = [Text(faq.answer)] if faq.answer else []
    if faq.card:
        card = faq.card
        replies.append(MiniProgramCard(card.title, card.appid, card.pagepath, card.thumb_media_id))
    return replies
