"""The consent ledger: each `accept` is one credit for a customer and template; a send uses one.

Every change is one conditional UPDATE (or an upsert), so two processes can never spend the same
credit, and every change writes a `consent_events` row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from bot.outreach.errors import InvalidConsent
from bot.outreach.models import ConsentEvent, ConsentResult, CreditChange, SubscribeCredit
from bot.outreach.templates import TemplateKind, TemplateRegistry
from storage.sql import dialect_insert, dialect_name

log = logging.getLogger(__name__)

MAX_TEMPLATES_PER_RECORD = 20  # wx.requestSubscribeMessage returns at most 3; a popup lists a few


def parse_consents(body: object) -> dict[str, ConsentResult]:
    """`{template_id: "accept"|"reject"|"ban"|"filter"}` as wx.requestSubscribeMessage returns it
    (its `errMsg` key is ignored); anything else is refused, naming the faulty entry."""
    if not isinstance(body, dict):
        raise InvalidConsent("expected an object {template_id: result}")
    results: dict[str, ConsentResult] = {}
    for template_id, result in body.items():
        if template_id == "errMsg":
            continue
        if not isinstance(template_id, str) or not 0 < len(template_id) <= 128:
            raise InvalidConsent("a template id must be text of 1-128 characters")
        try:
            results[template_id] = ConsentResult(result)
        except ValueError:
            raise InvalidConsent(f"{template_id}: {result!r} is not accept, reject, ban or filter",
                                 template_id=template_id) from None
    if not results or len(results) > MAX_TEMPLATES_PER_RECORD:
        raise InvalidConsent(f"expected 1-{MAX_TEMPLATES_PER_RECORD} templates")
    return results


def record_consents(
    session: Session, *, customer_id: int, results: Mapping[str, ConsentResult], source: str,
    registry: TemplateRegistry, now: datetime,
) -> dict[str, int]:
    """Add a credit for each accept; note every result. The credits each template now has.

    A template the registry does not know is still recorded (the store may add it to the file later),
    but logged, since nothing will use it until then.
    """
    known = {t.id for t in registry.templates}
    for template_id, result in sorted(results.items()):
        if template_id not in known:
            log.warning("consent %s for template %s, which the registry does not list", result, template_id)
        change = CreditChange.ACCEPTED if result is ConsentResult.ACCEPT else CreditChange.REFUSED
        _upsert_credit(session, customer_id, template_id, 1 if change is CreditChange.ACCEPTED else 0, result, now)
        session.add(ConsentEvent(customer_id=customer_id, template_id=template_id, change=change,
                                 result=result.value, source=source, at=now))
    return credits_of(session, customer_id, templates=results.keys())


def turn_off(session: Session, *, customer_id: int, template_id: str, source: str, now: datetime) -> None:
    """The customer switched a template off (subscribe_msg_change_event reject): no credit left."""
    _upsert_credit(session, customer_id, template_id, 0, CreditChange.TURNED_OFF, now, reset=True)
    session.add(ConsentEvent(customer_id=customer_id, template_id=template_id, change=CreditChange.TURNED_OFF,
                             result=ConsentResult.REJECT.value, source=source, at=now))


def _upsert_credit(session: Session, customer_id: int, template_id: str, add: int, result: str, now: datetime,
                   *, reset: bool = False) -> None:
    insert = dialect_insert(dialect_name(session), SubscribeCredit.__table__)  # type: ignore[arg-type]
    new_credits = 0 if reset else SubscribeCredit.credits + add
    statement = insert.values(customer_id=customer_id, template_id=template_id, credits=add if not reset else 0,
                              last_result=result, updated_at=now)
    session.execute(statement.on_conflict_do_update(
        index_elements=["customer_id", "template_id"],
        set_={"credits": new_credits, "last_result": result, "updated_at": now},
    ))


def credits_of(session: Session, customer_id: int, *, templates: Iterable[str] | None = None) -> dict[str, int]:
    query = select(SubscribeCredit.template_id, SubscribeCredit.credits).where(
        SubscribeCredit.customer_id == customer_id)
    if templates is not None:
        query = query.where(SubscribeCredit.template_id.in_(list(templates)))
    found = session.execute(query.order_by(SubscribeCredit.template_id))
    return {template_id: credits for template_id, credits in found}


def ledger_of(session: Session, customer_id: int) -> list[tuple[str, int, str, datetime]]:
    """(template_id, credits, last_result, updated_at) per template the customer answered."""
    return list(session.execute(
        select(SubscribeCredit.template_id, SubscribeCredit.credits, SubscribeCredit.last_result,
               SubscribeCredit.updated_at)
        .where(SubscribeCredit.customer_id == customer_id).order_by(SubscribeCredit.template_id)
    ).tuples())


def use_credits(
    session: Session, *, template_id: str, kind: TemplateKind, customer_ids: list[int], now: datetime,
) -> dict[int, int]:
    """Take one credit of `template_id` from each customer who has one; {customer_id: credits left}.

    One UPDATE for the whole batch, in the caller's transaction (the one that claims the messages).
    A long-term consent is checked, not spent.
    """
    if not customer_ids:
        return {}
    has_credit = and_(SubscribeCredit.template_id == template_id, SubscribeCredit.customer_id.in_(customer_ids),
                      SubscribeCredit.credits > 0)
    if kind is TemplateKind.LONG_TERM:
        found = session.execute(select(SubscribeCredit.customer_id, SubscribeCredit.credits).where(has_credit))
        return {customer_id: credits for customer_id, credits in found}
    spent = session.execute(
        update(SubscribeCredit).where(has_credit)
        .values(credits=SubscribeCredit.credits - 1, last_result=CreditChange.USED.value, updated_at=now)
        .returning(SubscribeCredit.customer_id, SubscribeCredit.credits)
    )
    return {customer_id: credits for customer_id, credits in spent}


def note_used(session: Session, used: Mapping[int, int], *, template_id: str, message_ids: Mapping[int, int],
              now: datetime) -> None:
    """The audit rows of `use_credits`: one per message that took a credit."""
    if not used:
        return  # an empty executemany would insert one row of defaults
    session.execute(ConsentEvent.__table__.insert(), [  # type: ignore[attr-defined]
        {"customer_id": customer_id, "template_id": template_id, "change": CreditChange.USED.value,
         "result": None, "source": "send", "message_id": message_ids[customer_id], "at": now}
        for customer_id in used
    ])


def give_back_credit(session: Session, *, customer_id: int, template_id: str, kind: TemplateKind,
                     message_id: int, now: datetime) -> None:
    """WeChat did not take the send (a transient error): the credit is the customer's again."""
    if kind is TemplateKind.LONG_TERM:
        return
    session.execute(update(SubscribeCredit).where(SubscribeCredit.customer_id == customer_id,
                                                  SubscribeCredit.template_id == template_id)
                    .values(credits=SubscribeCredit.credits + 1, last_result=CreditChange.RETURNED.value,
                            updated_at=now))
    session.add(ConsentEvent(customer_id=customer_id, template_id=template_id, change=CreditChange.RETURNED,
                             source="wechat", message_id=message_id, at=now))


def zero_credit(session: Session, *, customer_id: int, template_id: str, message_id: int, now: datetime) -> None:
    """WeChat answered 43101: it holds no consent for this customer and template, whatever we counted."""
    session.execute(update(SubscribeCredit).where(SubscribeCredit.customer_id == customer_id,
                                                  SubscribeCredit.template_id == template_id)
                    .values(credits=0, last_result=CreditChange.ZEROED.value, updated_at=now))
    session.add(ConsentEvent(customer_id=customer_id, template_id=template_id, change=CreditChange.ZEROED,
                             source="wechat", message_id=message_id, at=now))


def credit_now(session: Session, *, customer_id: int, template_id: str) -> int:
    found = session.scalar(select(func.coalesce(SubscribeCredit.credits, 0)).where(
        SubscribeCredit.customer_id == customer_id, SubscribeCredit.template_id == template_id))
    return int(found or 0)
