"""Tag rules and skill groups, read-only, with their last reload and any error (admins).

The tag rules and the KB are files the running service reloads within a second of an edit; a broken edit
is not taken and the last good content stays in force, so besides what is in force the page shows when it
was loaded and why the latest edit was refused. Skill groups come from the settings (config.yaml and the
environment) and change with a restart only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Protocol

from fastapi import APIRouter
from pydantic import BaseModel, Field

from bot.customers.tag_rules import TagRule
from bot.handoff.config import WEEKDAYS, Interval, RoutingConfig, SkillGroup
from staff.backoffice import BackOffice
from staff.kb_api import KB_RESPONSES, KbStatusOut, KbUnavailable, kb_status
from staff.roles import Principal, Role, RoleCheck


class BackOfficeSource(Protocol):
    @property
    def backoffice(self) -> BackOffice | None: ...



class TagRuleOut(BaseModel):
    line: int = Field(description="where the rule starts in the file")
    when: str = Field(description="the trigger: intent, faq_answered, card_opened, order_paid ...")
    intent: str | None
    entities: list[str]
    category: str | None = Field(description="faq_answered: only FAQs of this category")
    at_least_fen: int | None = Field(description="order_total_at_least: the total in fen")
    add: list[str]
    remove: list[str]
    group: str
    expires_in_days: float | None
    hand_off: bool


class TagRulesOut(BaseModel):
    path: str | None = Field(description="None: this service applies no tag rules")
    exists: bool
    loaded_at: datetime | None = Field(description="when the rules in force were loaded")
    last_error: str | None = Field(description="why the file's last change was not taken (the last good rules "
                                               "stay in force)")
    rules: list[TagRuleOut]


class HoursOut(BaseModel):
    day: str = Field(description="mon … sun")
    intervals: list[str] = Field(description="HH:MM-HH:MM; none: closed that day")


class SkillGroupOut(BaseModel):
    name: str
    intents: list[str]
    tags: list[str] = Field(description="globs, e.g. 意向客户-*")
    always_open: bool
    hours: list[HoursOut]
    closed_dates: list[date]
    kf_account: str
    open_now: bool


class RulesOut(BaseModel):
    tag_rules: TagRulesOut
    skill_groups: list[SkillGroupOut]
    timezone: str = Field(description="the zone business hours are in")
    kb: KbStatusOut


def add_rules_routes(router: APIRouter, api: BackOfficeSource, auth: RoleCheck) -> None:
    """Adds this page's routes to the staff router."""
    admins = auth.requiring(Role.ADMIN)

    @router.get("/rules", response_model=RulesOut, responses={503: KB_RESPONSES[503]},
                summary="Tag rules, skill groups and the KB file: what is in force, when it was loaded, any error")
    def rules(principal: Principal = admins) -> RulesOut:
        backoffice = api.backoffice
        if backoffice is None:
            raise KbUnavailable("the back office is not set up on this service")
        routing = backoffice.routing
        now = datetime.now(UTC)
        return RulesOut(tag_rules=_tag_rules(backoffice),
                        skill_groups=[_group(g, routing, now) for g in routing.groups] if routing else [],
                        timezone=routing.timezone if routing else backoffice.timezone,
                        kb=kb_status(backoffice))


def _tag_rules(backoffice: BackOffice) -> TagRulesOut:
    source = backoffice.tag_rules
    if source is None:
        return TagRulesOut(path=None, exists=False, loaded_at=None, last_error=None, rules=[])
    in_force = source.rules()
    status = source.status()
    return TagRulesOut(
        path=str(source.path), exists=status.exists, loaded_at=datetime.fromtimestamp(status.loaded_at, UTC),
        last_error=status.last_error, rules=[_rule(rule) for rule in in_force.rules])


def _rule(rule: TagRule) -> TagRuleOut:
    return TagRuleOut(line=rule.line, when=rule.trigger.value, intent=rule.intent, entities=list(rule.entities),
                      category=rule.category, at_least_fen=rule.at_least_fen, add=list(rule.add),
                      remove=list(rule.remove), group=rule.group,
                      expires_in_days=rule.expires_in.total_seconds() / 86400 if rule.expires_in else None,
                      hand_off=rule.hand_off)


def _group(group: SkillGroup, routing: RoutingConfig, now: datetime) -> SkillGroupOut:
    hours = group.hours
    return SkillGroupOut(
        name=group.name, intents=list(group.intents), tags=list(group.tags), always_open=hours is None,
        hours=[] if hours is None else [
            HoursOut(day=day, intervals=[_interval(i) for i in hours.get(number, ())])
            for number, day in enumerate(WEEKDAYS)],
        closed_dates=sorted(group.closed_dates), kf_account=group.kf_account,
        open_now=group.is_open(now, routing.zone))


def _interval(interval: Interval) -> str:
    end = "24:00" if interval.end == time(0) else f"{interval.end:%H:%M}"  # time(0) as an end is midnight
    return f"{interval.start:%H:%M}-{end}"
