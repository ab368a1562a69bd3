"""Builds the bot's dialogue from settings: knowledge base, NLU parser, actions, tracker store.

Also used by `chatshop actions serve` and `chatshop nlu eval`, so the action server runs the very
same action instances and the evaluation the very same parser as the webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from rasa_sdk import Action
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.actions import Store, build_store_actions
from bot.cards.resolver import CardResolver
from bot.config import DialogueConfig
from bot.customers.tag_triggers import TagTriggers
from bot.dialogue import Dialogue
from bot.gaps import insert_unanswered, note_choice, unanswered_row
from bot.inbound import Inbound
from bot.tracker import DatabaseTrackerStore
from chatshop.cards_wiring import image_library
from chatshop.settings import Settings
from commerce.catalog import product_titles
from foundation import fast_yaml
from foundation.memo import Memo
from intents.actions import ActionTexts, FaqLookup, SizeChart, build_actions
from intents.kb import Outcome
from intents.kb_source import KnowledgeBaseSource
from intents.nlu.entities import EntityExtractor, ProductGazetteer
from intents.nlu.parser import NluParser
from intents.nlu.training_data import TrainingData, read_training_data
from intents.text import Tokeniser
from storage.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Language:
    """What understanding a store's customers takes: its KB, its parser and its actions."""

    kb: KnowledgeBaseSource
    faqs: FaqLookup
    nlu: NluParser
    actions: dict[str, Action]


def build_dialogue(
    settings: Settings, factory: sessionmaker[Session], writer: GroupCommitWriter, store: Store | None = None,
    cards: CardResolver | None = None, *, tags: TagTriggers | None = None, trackers: DatabaseTrackerStore | None = None,
) -> Dialogue:
    language = build_language(settings, catalog_names(factory, settings.nlu.catalog_fallback), store)
    return Dialogue(
        kb=language.kb,
        config=DialogueConfig(**settings.bot.model_dump()),
        nlu=language.nlu,
        faqs=language.faqs,
        actions=language.actions,
        trackers=trackers or DatabaseTrackerStore(writer),
        record_unanswered=unanswered_recorder(writer),
        record_choice=choice_recorder(writer),
        cards=cards,
        search_terms=store.terms if store is not None else None,
        tags=tags,
    )


def build_language(settings: Settings, catalog: Callable[[], Iterable[str]], store: Store | None = None) -> Language:
    training = read_training_data(settings.nlu.training_data)
    titles = list(catalog())
    kb = KnowledgeBaseSource(
        settings.kb.path, settings.kb.answer_threshold, settings.kb.suggest_threshold,
        user_words=[*titles, *training_products(training)],
        check_image=image_library(settings).problem,  # an edit naming a missing card image is refused
    )
    nlu = train_parser(training, kb.tokeniser, catalog, threshold=settings.nlu.intent_threshold,
                       refresh_s=settings.nlu.products_refresh_s)
    faqs = FaqLookup(kb)
    texts = ActionTexts(rephrase=settings.bot.fallback)
    actions = build_actions(faqs=faqs, size_chart=SizeChart.load(settings.nlu.size_chart), texts=texts)
    actions |= build_store_actions(store, texts)
    return Language(kb, faqs, nlu, actions)


def train_parser(
    training: TrainingData,
    tokeniser: Tokeniser,
    catalog: Callable[[], Iterable[str]],
    *,
    threshold: float,
    refresh_s: float = 60.0,
) -> NluParser:
    """The parser, trained on `training`; product names are the catalog's plus the product words
    the training data annotates ("连衣裙", "口红": what customers call things)."""
    generic = training_products(training)
    gazetteer = ProductGazetteer(lambda: [*catalog(), *generic], refresh_s=refresh_s)
    return NluParser.train(training, tokeniser=tokeniser, extractor=EntityExtractor(gazetteer), threshold=threshold)


def training_products(training: TrainingData) -> list[str]:
    return sorted({e.value for example in training.examples for e in example.entities if e.entity == "product"})


def catalog_names(factory: sessionmaker[Session], fallback: Path) -> Callable[[], list[str]]:
    """Product titles from the catalog table, or from the demo catalog file while it is empty."""

    def names() -> list[str]:
        try:
            with factory() as session:
                titles = product_titles(session)
        except SQLAlchemyError:
            log.warning("product names unavailable from the database; using %s", fallback)
            titles = []
        return titles or catalog_file_names(fallback)

    return names


def catalog_file_names(path: Path) -> list[str]:
    """Titles in a catalog YAML file (a missing or unreadable file gives none, and is logged). Asked for
    at every refresh of the product names while the catalog table is empty: read again only when the
    file changes."""
    try:
        stat = path.stat()
    except OSError as exc:
        log.warning("no product names from %s: %s", path, exc)
        return []
    key = f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
    return list(_CATALOG_FILE_NAMES.get(key, lambda: _read_catalog_file_names(path)))


_CATALOG_FILE_NAMES: Memo[tuple[str, ...]] = Memo(kept=4)


def _read_catalog_file_names(path: Path) -> tuple[str, ...]:
    try:
        document = fast_yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        log.warning("no product names from %s: %s", path, exc)
        return ()
    products = document.get("products", []) if isinstance(document, dict) else document
    if not isinstance(products, list):
        return ()
    return tuple(str(p["title"]) for p in products if isinstance(p, dict) and p.get("title"))


def unanswered_recorder(writer: GroupCommitWriter) -> Callable[[Inbound, Outcome], None]:
    """Queued on the writer without waiting, like the dialogue state: it commits before the reply's
    own record, and takes no transaction (on SQLite, the write lock) of its own per message."""

    def record(inbound: Inbound, outcome: Outcome) -> None:
        row = unanswered_row(channel=inbound.channel.value, openid=inbound.openid, text=inbound.content,
                             outcome=outcome.value)
        writer.submit_unawaited(lambda connection: insert_unanswered(connection, row),
                                what="recording an unanswered question")

    return record


def choice_recorder(writer: GroupCommitWriter) -> Callable[[Inbound, str], None]:
    """Queued on the writer like the unanswered question it marks, so it lands after that question's row."""

    def record(inbound: Inbound, faq_id: str) -> None:
        writer.submit_unawaited(
            lambda connection: note_choice(connection, channel=inbound.channel, openid=inbound.openid, faq_id=faq_id),
            what="recording a menu choice")

    return record
