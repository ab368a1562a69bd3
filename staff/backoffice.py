"""What the back office's pages (orders, catalog, knowledge base, rules, numbers) work with besides the
database: the pay client for refunds, the running bot's KB and rule files, and the store's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.customers.tag_rules import TagRuleSource
from bot.handoff.config import RoutingConfig
from intents.kb_source import KnowledgeBaseSource
from web.errors import ApiError
from wechat.pay import WeChatPay


@dataclass(frozen=True)
class BackOffice:
    pay: WeChatPay | None  # refunds are recorded without it, and submitted once it is configured
    kb: KnowledgeBaseSource | None  # the running bot's KB (None: a service with a bot of its own)
    kb_path: Path  # the file staff edits are written to; the bot reloads it as it does any edit
    tag_rules: TagRuleSource | None
    routing: RoutingConfig | None
    timezone: str = "Asia/Shanghai"  # the store's days and hours, for the numbers


class BackOfficeUnavailable(ApiError):
    """This service runs without the back office (the staff API was built without one)."""

    code = "BACKOFFICE_UNAVAILABLE"
    status = 503


class BackOfficeBackend(Protocol):
    """What the back office's route modules use of the StaffApi (declared here: staff_api imports them)."""

    @property
    def factory(self) -> sessionmaker[Session]: ...

    @property
    def backoffice(self) -> BackOffice | None: ...
