"""What customers say to outreach through the webhook: the Official Account's one-time subscription
popup and its later switch-offs (recorded in the consent ledger), and 退订 / 订阅 (reminders and
campaigns off and on again). Order notices are not affected by 退订: they are about an order the
customer placed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Channel
from bot.outgoing import Outgoing, Text
from bot.outreach.consent import record_consents, turn_off
from bot.outreach.models import ConsentResult, OptOut
from bot.outreach.templates import TemplateRegistry
from storage.clock import utcnow
from storage.db import transaction
from storage.sql import insert_ignoring_conflicts

log = logging.getLogger(__name__)

POPUP_EVENT = "subscribe_msg_popup_event"
CHANGE_EVENT = "subscribe_msg_change_event"
RESULTS = frozenset(result.value for result in ConsentResult)
OPT_OUT_WORDS = frozenset({"退订", "td", "TD", "退订提醒"})
OPT_IN_WORDS = frozenset({"订阅", "恢复订阅"})
OPTED_OUT_TEXT = "已为您退订购物车提醒和活动消息，订单通知不受影响。回复「订阅」可恢复。"
OPTED_IN_TEXT = "已恢复购物车提醒和活动消息。回复「退订」可随时退订。"


def event_results(fields: Mapping[str, Any], event: str) -> dict[str, ConsentResult]:
    """{template_id: result} of a popup or change event; xmltodict gives one <List> as a dict, several as a
    list. An entry that is not what WeChat sends is skipped and logged."""
    block = fields.get("SubscribeMsgPopupEvent" if event == POPUP_EVENT else "SubscribeMsgChangeEvent")
    entries = block.get("List") if isinstance(block, dict) else None
    if isinstance(entries, dict):
        entries = [entries]
    results: dict[str, ConsentResult] = {}
    for entry in entries if isinstance(entries, list) else []:
        template_id = entry.get("TemplateId") if isinstance(entry, dict) else None
        status = entry.get("SubscribeStatusString") if isinstance(entry, dict) else None
        if isinstance(template_id, str) and template_id and isinstance(status, str) and status in RESULTS:
            results[template_id] = ConsentResult(status)
            continue
        log.warning("%s: skipped an entry WeChat would not send: %r", event, entry)
    return results


class OutreachInbound:
    def __init__(self, *, factory: sessionmaker[Session], templates: Callable[[], TemplateRegistry],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._factory, self._templates, self._clock = factory, templates, clock

    def answer(self, customer_id: int, channel: Channel, kind: str, content: str,
               fields: Mapping[str, Any]) -> list[Outgoing] | None:
        """The reply to an outreach message or event (possibly none: []); None when it is not one."""
        if kind in (POPUP_EVENT, CHANGE_EVENT):
            self._record_event(customer_id, kind, fields)
            return []
        words = content.strip()
        if kind == "text" and words in OPT_OUT_WORDS:
            self._opt(customer_id, out=True)
            return [Text(OPTED_OUT_TEXT)]
        if kind == "text" and words in OPT_IN_WORDS and self._opted_out(customer_id):
            self._opt(customer_id, out=False)
            return [Text(OPTED_IN_TEXT)]
        return None

    def _record_event(self, customer_id: int, kind: str, fields: Mapping[str, Any]) -> None:
        results = event_results(fields, kind)
        if not results:
            return
        now = self._clock()
        with transaction(self._factory) as session:
            if kind == POPUP_EVENT:
                record_consents(session, customer_id=customer_id, results=results, source="oa_popup",
                                registry=self._templates(), now=now)
                return
            for template_id, result in results.items():
                if result is not ConsentResult.ACCEPT:  # switched off in the chat's settings
                    turn_off(session, customer_id=customer_id, template_id=template_id, source="oa_change", now=now)

    def _opt(self, customer_id: int, *, out: bool) -> None:
        with transaction(self._factory) as session:
            if out:
                session.execute(insert_ignoring_conflicts(session, OptOut.__table__)  # type: ignore[arg-type]
                                .values(customer_id=customer_id, at=self._clock()))
            else:
                session.execute(delete(OptOut).where(OptOut.customer_id == customer_id))
        log.info("customer %s opted %s of reminders and campaigns", customer_id, "out" if out else "back in")

    def _opted_out(self, customer_id: int) -> bool:
        with self._factory() as session:
            return session.get(OptOut, customer_id) is not None
