"""Builds the handoff desk from settings: skill groups, timeouts, and what it reaches (the messenger,
WeChat's user/info for the person behind a follower, product cards)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.actions.products import product_card
from bot.cards.resolver import CardResolver
from bot.customers.identity import buyer_openids
from bot.dialogue import with_conversation
from bot.handoff.config import HandoffConfig, RoutingConfig, SkillGroup, parse_hours
from bot.handoff.desk import HandoffDesk
from bot.messenger import Messenger
from bot.models import Channel
from bot.outgoing import Outgoing
from chatshop.settings import HandoffSettings, RoutingSettings, Settings
from commerce.catalog import get_product
from wechat.client import WeChatClient


def build_handoff_desk(
    settings: Settings, factory: sessionmaker[Session], messenger: Messenger, apis: dict[Channel, WeChatClient],
    cards: CardResolver,
) -> HandoffDesk:
    users = apis[Channel.OA].users if Channel.OA in apis else None

    def buyers(channel: Channel, openid: str) -> list[str]:
        return buyer_openids(factory, channel=channel, openid=openid, users=users)

    def compose_card(product_id: str, channel: Channel, conversation: int) -> Outgoing:
        with factory() as session:
            card = product_card(get_product(session, product_id), settings.miniprogram.app_id, fallback="")
        return cards.resolve(with_conversation(card, conversation), channel)

    return HandoffDesk(factory=factory, messenger=messenger, routing=routing_config(settings.routing),
                       config=handoff_config(settings.handoff), buyer_openids=buyers, compose_card=compose_card)


def routing_config(routing: RoutingSettings) -> RoutingConfig:
    groups = tuple(
        SkillGroup(name=group.name, intents=tuple(group.intents), tags=tuple(group.tags),
                   hours=parse_hours(group.hours) if group.hours else None,
                   closed_dates=frozenset(group.closed_dates), kf_account=group.kf_account)
        for group in routing.groups
    )
    return RoutingConfig(groups=groups, timezone=routing.timezone)


def handoff_config(handoff: HandoffSettings) -> HandoffConfig:
    return HandoffConfig(mode=handoff.mode, queue_timeout_s=handoff.queue_timeout_s,
                         agent_reply_timeout_s=handoff.agent_reply_timeout_s,
                         customer_silence_s=handoff.customer_silence_s, long_queue=handoff.long_queue)
