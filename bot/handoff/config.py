"""Typed routing and handoff settings (sections `routing` and `handoff`); the composition root builds them.

Business hours are per weekday in the store's timezone, as intervals ("09:00-12:00,13:30-21:00"); a
weekday missing from `hours` is closed, and a group with no `hours` at all is always open.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
# How far ahead the next opening is looked for: a group closed longer than this has no opening to tell.
_LOOKAHEAD_DAYS = 60


@dataclass(frozen=True)
class Interval:
    start: time
    end: time  # time(0) as an end means midnight: to the end of the day

    def holds(self, moment: time) -> bool:
        return self.start <= moment and (moment < self.end or self.end == time(0))


@dataclass(frozen=True)
class SkillGroup:
    name: str
    intents: tuple[str, ...] = ()  # a handoff whose message had one of these intents routes here
    tags: tuple[str, ...] = ()  # ... or a customer with a live tag matching one of these (glob: 意向客户-*)
    hours: Mapping[int, tuple[Interval, ...]] | None = None  # weekday (0 = Monday) → intervals; None: always
    closed_dates: frozenset[date] = frozenset()
    kf_account: str = ""  # handoff.mode wechat_kf: the WeChat customer-service account it transfers to

    def matches_tag(self, tag: str) -> bool:
        return any(fnmatch.fnmatchcase(tag, pattern) for pattern in self.tags)

    def is_open(self, now: datetime, zone: ZoneInfo) -> bool:
        local = now.astimezone(zone)
        if local.date() in self.closed_dates:
            return False
        if self.hours is None:
            return True
        return any(interval.holds(local.time()) for interval in self.hours.get(local.weekday(), ()))

    def next_opening(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """When the group opens next (local time), or None when it is open or never opens again soon."""
        if self.is_open(now, zone):
            return None
        local = now.astimezone(zone)
        for days in range(_LOOKAHEAD_DAYS):
            day = local.date() + timedelta(days=days)
            if day in self.closed_dates:
                continue
            starts = sorted(interval.start for interval in self._intervals(day.weekday()))
            for start in starts:
                opening = datetime.combine(day, start, tzinfo=zone)
                if opening > local:
                    return opening
        return None

    def _intervals(self, weekday: int) -> tuple[Interval, ...]:
        if self.hours is None:
            return (Interval(time(0), time(0)),)
        return self.hours.get(weekday, ())


class HandoffMode(StrEnum):
    QUEUE = "queue"  # chatshop's own queue, agents in the staff console / API
    WECHAT_KF = "wechat_kf"  # WeChat's own customer-service system: the bot replies transfer_customer_service


@dataclass(frozen=True)
class RoutingConfig:
    groups: Sequence[SkillGroup] = (SkillGroup("客服"),)
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("routing needs at least one skill group")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_group(self) -> SkillGroup:
        return self.groups[0]

    def group(self, name: str) -> SkillGroup | None:
        return next((group for group in self.groups if group.name == name), None)

    def names(self) -> list[str]:
        return [group.name for group in self.groups]


@dataclass(frozen=True)
class HandoffTexts:
    """What the customer is told; `{place}`, `{opening}`, `{agent}` are filled in."""

    queued: str = "好的，已为您转接人工客服，请稍候，客服会尽快回复您。"
    queued_complaint: str = "非常抱歉给您带来不好的体验！已为您转接人工客服，客服会尽快联系您处理。"
    queued_fallback: str = "还是没能理解您的问题，已为您转接人工客服，请稍候。"
    place: str = "您前面还有 {place} 位顾客在排队。"
    closed: str = "现在是客服休息时间，客服将于 {opening} 上班后第一时间回复您，您可以先留言。"
    closed_no_opening: str = "现在是客服休息时间，客服上班后会第一时间回复您，您可以先留言。"
    assigned: str = "客服「{agent}」为您服务，请问有什么可以帮您？"
    still_waiting: str = "抱歉让您久等了，客服仍在忙碌中，我们已通知主管尽快为您安排。"
    ended_by_customer: str = "好的，已结束人工服务。还有问题随时问我哦～"
    resolved: str = "本次人工服务已结束，感谢您的耐心！还有问题可以直接问我哦～"
    silent: str = "您好久没有回复啦，本次人工服务先结束了。还有问题随时问我哦～"
    already_waiting: str = "已在为您安排人工客服，请稍候～"
    csat_head: str = "请为本次服务打分："
    csat_tail: str = "点击即可评价，感谢您的反馈"
    csat_mp: str = "请回复数字为本次服务打分：5 非常满意 / 4 满意 / 3 一般 / 2 不满意 / 1 非常不满意"
    csat_thanks: str = "感谢您的评价！祝您购物愉快～"


@dataclass(frozen=True)
class HandoffConfig:
    mode: HandoffMode = HandoffMode.QUEUE
    queue_timeout_s: int = 600  # queued and untaken this long: the customer told again, supervisors alerted
    agent_reply_timeout_s: int = 300  # a customer unanswered this long: the agent is reminded; twice as long: re-queued
    customer_silence_s: int = 1800  # the customer silent this long after an agent's answer: resolved, bot back
    long_queue: int = 3  # the customer is told their place when more than this many wait before them
    end_words: tuple[str, ...] = ("不用了", "结束", "结束人工", "不需要了", "退出人工")
    csat: bool = True  # after an agent resolves, the customer is asked for a 1-5 rating
    csat_window_s: int = 86400  # a rating counts this long after the resolution
    texts: HandoffTexts = field(default_factory=HandoffTexts)


def parse_hours(spec: Mapping[str, str]) -> dict[int, tuple[Interval, ...]]:
    """{"mon-fri": "09:00-21:00", "sat": "10:00-12:00,13:00-18:00"} → weekday → intervals; ValueError names
    the bad key or value."""
    hours: dict[int, tuple[Interval, ...]] = {}
    for days, intervals in spec.items():
        parsed = tuple(_interval(part.strip(), days) for part in str(intervals).split(",") if part.strip())
        for weekday in _weekdays(days):
            hours[weekday] = hours.get(weekday, ()) + parsed
    return hours


def _weekdays(days: str) -> list[int]:
    first, _, last = days.strip().lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise ValueError(f"hours: {days!r} is not a weekday or range such as mon-fri")
    start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
    if end < start:
        raise ValueError(f"hours: {days!r} runs backwards")
    return list(range(start, end + 1))


def _interval(part: str, days: str) -> Interval:
    start, sep, end = part.partition("-")
    try:
        interval = Interval(time.fromisoformat(start.strip()), _end_time(end.strip()))
    except ValueError:
        raise ValueError(f"hours of {days}: {part!r} is not HH:MM-HH:MM") from None
    if not sep or (interval.end != time(0) and interval.end <= interval.start):
        raise ValueError(f"hours of {days}: {part!r} is not HH:MM-HH:MM with the end after the start")
    return interval


def _end_time(text: str) -> time:
    return time(0) if text in ("24:00", "00:00") else time.fromisoformat(text)


def describe_opening(opening: datetime) -> str:
    """12月5日（周六）09:00, as the customer reads it."""
    return f"{opening.month}月{opening.day}日（{WEEKDAY_NAMES[opening.weekday()]}）{opening:%H:%M}"
