"""What the 数据 page shows, read from the daily aggregates only (never from the raw events): the overview
with its periods and heat map, the funnel, the sources, and repeat purchase. Days are store days; a period
of N days ends today and includes it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from bot.analytics.models import (
    Buyer,
    DailyAgent,
    DailyBuyer,
    DailyHour,
    DailyProduct,
    DailySales,
    DailySource,
    EventKind,
    RolledDay,
    Source,
)
from bot.handoff.models import RoutingAgent
from bot.outreach.campaigns import campaign_report
from bot.outreach.models import Campaign
from bot.outreach.reminders import reminders_report
from commerce.models import Product

HEATMAP_DAYS = 28  # four of each weekday
REPEAT_WEEKS = 12
MAX_CAMPAIGNS = 20  # campaigns reported beside their holdout on the sources page
WEEK_S, MONTH_S = 7 * 86400, 30 * 86400
FUNNEL = (EventKind.VIEW, EventKind.CART, EventKind.CHECKOUT, EventKind.PAID)


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # inclusive

    def before(self) -> Period:
        length = (self.last - self.first).days + 1
        return Period(self.first - timedelta(days=length), self.first - timedelta(days=1))


def last_days(today: date, days: int) -> Period:
    return Period(today - timedelta(days=days - 1), today)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def change_pct(now: int, before: int) -> float | None:
    return round((now - before) * 100 / before, 1) if before else None


def rolled_at(session: Session) -> datetime | None:
    return session.scalar(select(func.max(RolledDay.rolled_at)))


# ----- overview ------------------------------------------------------------------------------------


def overview(session: Session, *, today: date, hour: int = 23) -> dict[str, Any]:
    """GMV, paid orders, paying customers, average order value and refunds for today, yesterday, 7 and 30
    days, each beside the period before; and paid orders by weekday and hour over the last four weeks.
    Today is also set beside yesterday up to the same local `hour`: at 8 in the morning a whole yesterday
    would always look like a fall."""
    periods = {"today": last_days(today, 1), "yesterday": Period(today - timedelta(days=1), today - timedelta(days=1)),
               "7d": last_days(today, 7), "30d": last_days(today, 30)}
    days = _daily_sales(session, Period(today - timedelta(days=59), today))  # one read for all eight periods
    figures = [{"key": key, "first": period.first, "last": period.last,
                **_compared(sales_figures(session, period, days), sales_figures(session, period.before(), days))}
               for key, period in periods.items()]
    figures[0]["same_time"] = same_time_yesterday(session, today=today, hour=hour, now=figures[0]["current"])
    return {"today": today, "rolled_at": rolled_at(session), "periods": figures,
            "heatmap": heatmap(session, last_days(today, HEATMAP_DAYS))}


def same_time_yesterday(session: Session, *, today: date, hour: int, now: dict[str, int]) -> dict[str, Any]:
    """Yesterday's paid orders, GMV and average order value from midnight to the end of local `hour`, and
    today's so far against them (distinct customers and refunds are kept per day only)."""
    orders, gmv = session.execute(
        select(func.coalesce(func.sum(DailyHour.orders), 0), func.coalesce(func.sum(DailyHour.gmv_fen), 0))
        .where(DailyHour.day == today - timedelta(days=1), DailyHour.hour <= hour)).one()
    before = {"orders": int(orders), "gmv_fen": int(gmv),
              "aov_fen": (2 * int(gmv) + int(orders)) // (2 * int(orders)) if orders else 0}
    return {"until_hour": hour, **before,
            "change_pct": {name: change_pct(now[name], value) for name, value in before.items()}}


def _daily_sales(session: Session, period: Period) -> dict[date, tuple[int, int, int, int, int]]:
    rows = session.execute(select(DailySales.day, DailySales.orders, DailySales.gmv_fen, DailySales.customers,
                                  DailySales.refunds, DailySales.refund_fen)
                           .where(DailySales.day >= period.first, DailySales.day <= period.last))
    return {day: (int(o), int(g), int(c), int(r), int(rf)) for day, o, g, c, r, rf in rows}


def sales_figures(session: Session, period: Period,
                  days: dict[date, tuple[int, int, int, int, int]] | None = None) -> dict[str, int]:
    days = days if days is not None else _daily_sales(session, period)
    chosen = [figures for day, figures in days.items() if period.first <= day <= period.last]
    orders, gmv, _, refunds, refund_fen = (sum(column) for column in zip(*chosen, strict=True)) if chosen else (
        0, 0, 0, 0, 0)
    if period.first == period.last:
        customers = chosen[0][2] if chosen else 0  # one day: its own distinct count
    else:
        customers = int(session.scalar(select(func.count(distinct(DailyBuyer.openid)))
                                       .where(DailyBuyer.day >= period.first, DailyBuyer.day <= period.last)) or 0)
    return {"orders": orders, "gmv_fen": gmv, "customers": customers,
            # Rounded half up to the fen, in integers: no float ever touches money.
            "aov_fen": (2 * gmv + orders) // (2 * orders) if orders else 0,
            "refunds": refunds, "refund_fen": refund_fen}


def _compared(now: dict[str, int], before: dict[str, int]) -> dict[str, Any]:
    return {"current": now, "previous": before,
            "change_pct": {name: change_pct(value, before[name]) for name, value in now.items()}}


def heatmap(session: Session, period: Period) -> dict[str, Any]:
    rows = session.execute(
        select(DailyHour.weekday, DailyHour.hour, func.sum(DailyHour.orders), func.sum(DailyHour.gmv_fen))
        .where(DailyHour.day >= period.first, DailyHour.day <= period.last)
        .group_by(DailyHour.weekday, DailyHour.hour)).all()
    return {"first": period.first, "last": period.last,
            "cells": [{"weekday": weekday, "hour": hour, "orders": int(n), "gmv_fen": int(fen)}
                      for weekday, hour, n, fen in sorted(rows)]}


# ----- funnel --------------------------------------------------------------------------------------


def funnel(session: Session, *, period: Period) -> dict[str, Any]:
    """Views → add to cart → checkout → paid: events and customers (distinct per day, summed over the
    period's days), overall, by source and per product, with 浏览-加购率 and 加购-支付率."""
    people = session.execute(
        select(func.coalesce(func.sum(DailySales.viewers), 0), func.coalesce(func.sum(DailySales.carters), 0),
               func.coalesce(func.sum(DailySales.checkouters), 0), func.coalesce(func.sum(DailySales.customers), 0))
        .where(DailySales.day >= period.first, DailySales.day <= period.last)).one()
    events: dict[str, int] = {kind: 0 for kind in FUNNEL}
    by_src: dict[str, dict[str, int]] = {src: {kind: 0 for kind in FUNNEL} for src in Source}
    per_product: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {"events": {kind: 0 for kind in FUNNEL}, "customers": {kind: 0 for kind in FUNNEL}})
    # One read of the period's rows; the three breakdowns are summed here.
    for product_id, src, kind, n, who in session.execute(
            select(DailyProduct.product_id, DailyProduct.src, DailyProduct.kind, func.sum(DailyProduct.events),
                   func.sum(DailyProduct.customers))
            .where(DailyProduct.day >= period.first, DailyProduct.day <= period.last)
            .group_by(DailyProduct.product_id, DailyProduct.src, DailyProduct.kind)):
        events[kind] += int(n)
        by_src.setdefault(src, {k: 0 for k in FUNNEL})[kind] += int(n)
        per_product[product_id]["events"][kind] += int(n)
        per_product[product_id]["customers"][kind] += int(who)
    customers = dict(zip(FUNNEL, (int(n) for n in people), strict=True))
    return {
        "first": period.first, "last": period.last,
        "overall": _stage_figures(events, customers),
        "by_src": [{"src": src, **counts} for src, counts in by_src.items()],
        "products": _products(session, per_product),
    }


def _stage_figures(events: dict[str, int], customers: dict[EventKind, int] | dict[str, int]) -> dict[str, Any]:
    return {"events": events, "customers": customers,
            "view_to_cart": rate(customers[EventKind.CART], customers[EventKind.VIEW]),
            "cart_to_paid": rate(customers[EventKind.PAID], customers[EventKind.CART])}


def _products(session: Session, figures: dict[str, dict[str, dict[str, int]]]) -> list[dict[str, Any]]:
    titles = dict(session.execute(select(Product.id, Product.title)
                                  .where(Product.id.in_(list(figures)))).tuples().all())
    found = [{"product_id": product_id, "title": titles.get(product_id, product_id),
              **_stage_figures(f["events"], f["customers"])} for product_id, f in figures.items()]
    return sorted(found, key=lambda p: (-p["events"][EventKind.VIEW], p["product_id"]))


# ----- sources -------------------------------------------------------------------------------------


def sources(session: Session, *, period: Period, since: datetime) -> dict[str, Any]:
    """Paid orders and GMV by source, by campaign (beside its holdout) and from cart reminders (beside
    theirs); the bot's share of questions answered and handed to a person; CSAT by agent. `since` is the
    period's first moment (UTC), for the outreach reports that read their own tables."""
    within = (DailySource.day >= period.first, DailySource.day <= period.last)
    rows = session.execute(select(DailySource.src, DailySource.ref_id, func.sum(DailySource.orders),
                                  func.sum(DailySource.gmv_fen), func.sum(DailySource.customers))
                           .where(*within).group_by(DailySource.src, DailySource.ref_id)).all()
    by_src: dict[str, dict[str, int]] = {src: {"orders": 0, "gmv_fen": 0, "customers": 0} for src in Source}
    by_campaign: dict[int, tuple[int, int]] = {}
    for src, ref_id, orders, gmv, who in rows:
        total = by_src.setdefault(src, {"orders": 0, "gmv_fen": 0, "customers": 0})
        total["orders"] += int(orders)
        total["gmv_fen"] += int(gmv)
        total["customers"] += int(who)
        if src == Source.CAMPAIGN and ref_id:
            by_campaign[int(ref_id)] = (int(orders), int(gmv))
    return {
        "first": period.first, "last": period.last,
        "by_src": [{"src": src, **figures} for src, figures in by_src.items()],
        "campaigns": _campaigns(session, by_campaign, since),
        "reminders": {**by_src[Source.CART_REMINDER], **reminders_report(session, since=since)},
        "bot": _bot(session, period),
        "agents": _agents(session, period),
    }


def _campaigns(session: Session, attributed: dict[int, tuple[int, int]], since: datetime) -> list[dict[str, Any]]:
    started = session.scalars(select(Campaign.id).where(Campaign.started_at >= since)
                              .order_by(Campaign.started_at.desc()).limit(MAX_CAMPAIGNS)).all()
    ids = sorted(set(started) | set(attributed), reverse=True)[:MAX_CAMPAIGNS]
    found = []
    for campaign_id in ids:
        if session.get(Campaign, campaign_id) is None:
            continue  # a page carried an id that was never a campaign
        report = campaign_report(session, campaign_id)
        orders, gmv = attributed.get(campaign_id, (0, 0))
        found.append({"campaign_id": campaign_id, "name": report["name"], "state": report["state"],
                      "sent": report["sent"], "opens": report["opens"], "orders": orders, "gmv_fen": gmv,
                      "recipients": report["recipients"], "holdout": report["holdout"]})
    return found


def _bot(session: Session, period: Period) -> dict[str, Any]:
    questions, unanswered, handoffs = (int(n) for n in session.execute(
        select(func.coalesce(func.sum(DailySales.questions), 0), func.coalesce(func.sum(DailySales.unanswered), 0),
               func.coalesce(func.sum(DailySales.handoffs), 0))
        .where(DailySales.day >= period.first, DailySales.day <= period.last)).one())
    answered = max(0, questions - unanswered - handoffs)
    return {"questions": questions, "answered": answered, "unanswered": unanswered, "handoffs": handoffs,
            "answered_share": rate(answered, questions), "handoff_share": rate(handoffs, questions)}


def _agents(session: Session, period: Period) -> list[dict[str, Any]]:
    rows = session.execute(
        select(DailyAgent.agent_id, func.sum(DailyAgent.resolved), func.sum(DailyAgent.csat_sum),
               func.sum(DailyAgent.csat_count))
        .where(DailyAgent.day >= period.first, DailyAgent.day <= period.last).group_by(DailyAgent.agent_id)).all()
    names = dict(session.execute(select(RoutingAgent.staff_id, RoutingAgent.display_name)).tuples().all())
    return [{"agent_id": int(agent), "display_name": names.get(agent, f"#{agent}"), "resolved": int(resolved),
             "csat_count": int(rated), "csat_avg": round(int(total) / int(rated), 2) if rated else None}
            for agent, resolved, total, rated in sorted(rows, key=lambda r: -int(r[1]))]


# ----- repeat purchase -----------------------------------------------------------------------------


def repeat_purchase(session: Session, *, today: date, weeks: int = REPEAT_WEEKS) -> dict[str, Any]:
    """Of the customers whose first paid order fell in each week, the share who paid again within 7 and
    30 days; a rate is None while some of the week's customers have not had that long yet."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    rows = session.execute(
        select(Buyer.first_day, func.count(),
               func.sum(case((Buyer.repeat_after_s <= WEEK_S, 1), else_=0)),
               func.sum(case((Buyer.repeat_after_s <= MONTH_S, 1), else_=0)))
        .where(Buyer.first_day >= first, Buyer.first_day <= today).group_by(Buyer.first_day)).all()
    cohorts: dict[date, list[int]] = {first + timedelta(weeks=n): [0, 0, 0] for n in range(weeks)}
    done = {7: [0, 0], 30: [0, 0]}  # buyers whose window has passed, and the repeaters among them
    for day, buyers, week, month in rows:
        cohort = cohorts[day - timedelta(days=day.weekday())]
        for index, value in enumerate((buyers, week, month)):
            cohort[index] += int(value or 0)
        for days, repeaters in ((7, week), (30, month)):
            if day <= today - timedelta(days=days):
                done[days][0] += int(buyers)
                done[days][1] += int(repeaters or 0)
    return {
        "first": first, "last": today,
        "repeat_7d": rate(done[7][1], done[7][0]), "repeat_30d": rate(done[30][1], done[30][0]),
        "cohorts": [{"week": week, "new_buyers": buyers,
                     "repeat_7d": rate(w, buyers) if week + timedelta(days=6) <= today - timedelta(days=7) else None,
                     "repeat_30d": rate(m, buyers) if week + timedelta(days=6) <= today - timedelta(days=30) else None}
                    for week, (buyers, w, m) in sorted(cohorts.items(), reverse=True)],
    }
