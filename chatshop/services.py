"""The long-lived parts of the service, built once from settings: the database, the WeChat clients,
the messenger, the conversation store and the writer thread."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.cards.resolver import CardResolver
from bot.cards.thumbnails import Thumbnails
from bot.config import MessengerConfig, lease_for_budget
from bot.conversation import Conversations
from bot.customers.tag_rules import TagRuleSource
from bot.customers.tag_triggers import TagTriggers
from bot.handoff.desk import HandoffDesk
from bot.live import LiveFeed
from bot.messenger import Messenger
from bot.models import Channel
from bot.tracker import DatabaseTrackerStore
from chatshop.accounts import token_store, wechat_clients, window_rules
from chatshop.cards_wiring import card_resolver, card_thumbnails, image_library
from chatshop.handoff_wiring import build_handoff_desk
from chatshop.outreach_wiring import Outreach, build_outreach
from chatshop.pay_wiring import build_pay_client
from chatshop.settings import Settings
from foundation.workers import ThreadWorkers
from storage.db import make_session_factory, open_engine
from storage.group_commit import GroupCommitWriter
from wechat.client import WeChatClient
from wechat.pay import WeChatPay


@dataclass
class Services:
    """Everything the app built, kept for tests and the CLI."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    messenger: Messenger
    conversations: Conversations
    workers: ThreadWorkers  # the bot's turns and the webhook's sends after a reply
    writer: GroupCommitWriter
    apis: dict[Channel, WeChatClient]  # one client per account, sharing the access-token store
    thumbnails: Thumbnails  # card thumbnails uploaded as WeChat media, per account
    pay: WeChatPay | None  # the one WeChat Pay client (None: not configured), shared by the APIs, bot and jobs
    tags: TagTriggers | None = None  # the tag rules, applied by the dialogue, the mini-program and a job
    cards: CardResolver | None = None  # makes product cards sendable per account (bot and agents)
    handoff: HandoffDesk | None = None  # the human side: queue, assignment, agents' replies, timeouts
    live: LiveFeed | None = None  # wakes the console's event streams (LISTEN/NOTIFY, or a poll of SQLite)
    outreach: Outreach | None = None  # subscribe templates and messages, order notices, reminders, campaigns
    trackers: DatabaseTrackerStore | None = None  # dialogue states, shared by the bot and the webhook's claims


def build_services(settings: Settings) -> Services:
    pay = build_pay_client(settings)  # first: a broken pay setup stops start-up before anything runs
    engine = open_engine(settings.database.url, echo=settings.database.echo)
    factory = make_session_factory(engine)
    messenger_config = messenger_config_of(settings)
    apis = wechat_clients(settings, token_store(settings, factory))
    thumbnails = card_thumbnails(settings, factory, image_library(settings))
    messenger = Messenger(factory=factory, apis=apis, config=messenger_config, media_rejected=thumbnails.forget)
    writer = GroupCommitWriter(engine)
    trackers = DatabaseTrackerStore(writer)
    conversations = Conversations(
        writer=writer, factory=factory, messenger=messenger, windows=messenger_config.windows,
        dedupe_ttl_s=settings.wechat.dedupe_ttl_s, claim_lease=lease_for_budget(settings.wechat.reply_budget_ms),
        states=trackers,
    )
    # The bot runs here, never on the event loop. Few threads: more only fight over the GIL.
    workers = ThreadWorkers(8, name="chatshop")
    tags = TagTriggers(TagRuleSource(settings.tags.rules_path), writer)
    cards = card_resolver(settings, thumbnails, apis)
    handoff = build_handoff_desk(settings, factory, messenger, apis, cards)
    outreach = build_outreach(settings, factory, messenger, apis, cards)
    return Services(settings, engine, factory, messenger, conversations, workers, writer, apis, thumbnails, pay, tags,
                    cards, handoff, LiveFeed(engine), outreach, trackers)


def messenger_config_of(settings: Settings) -> MessengerConfig:
    m = settings.messenger
    return MessengerConfig(
        windows=window_rules(m),
        max_attempts=m.max_attempts,
        retry_backoff_s=m.retry_backoff_s,
        outbox_poll_s=m.outbox_poll_s,
        typing_exchange_s=m.typing_exchange_s,
        typing_lasts_s=m.typing_lasts_s,
        request_timeout_s=settings.wechat.request_timeout_s,
    )
