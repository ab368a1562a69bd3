"""The 数据 page (admins), under /staff/api/analytics/: overview, funnel, sources, repeat purchase, and each
table as CSV. Every figure is read from the daily aggregates (bot.analytics.figures), never from raw events;
money is fen here and yuan in the page and the CSV files. Days are the store's (backoffice.timezone)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from bot.analytics.figures import Period, funnel, last_days, overview, repeat_purchase, sources
from staff.backoffice import BackOfficeBackend
from staff.roles import Principal, Role, RoleCheck
from storage.clock import utcnow
from web.errors import ApiError

TABLE = Path(description="which of the page's tables")
DAYS = Query(30, ge=1, le=366, description="the period: this many store days, ending today")




class AnalyticsUnavailable(ApiError):
    """This service runs without the back office (no store time zone to count days in)."""

    code = "ANALYTICS_UNAVAILABLE"
    status = 503


# ----- answers ----------------------------------------------------------------------------------------


class SalesOut(BaseModel):
    orders: int = Field(description="paid orders")
    gmv_fen: int
    customers: int = Field(description="paying customers, each counted once in the period")
    aov_fen: int = Field(description="average order value, rounded to the fen")
    refunds: int = Field(description="refunds recorded (not failed)")
    refund_fen: int


class ChangeOut(BaseModel):
    orders: float | None
    gmv_fen: float | None
    customers: float | None
    aov_fen: float | None
    refunds: float | None
    refund_fen: float | None


class SameTimeChangeOut(BaseModel):
    orders: float | None
    gmv_fen: float | None
    aov_fen: float | None


class SameTimeOut(BaseModel):
    until_hour: int = Field(description="yesterday from 00:00 to the end of this local hour (today's hour now)")
    orders: int
    gmv_fen: int
    aov_fen: int
    change_pct: SameTimeChangeOut = Field(description="today so far against these in %; null when they are 0")


class PeriodOut(BaseModel):
    key: str = Field(description="today, yesterday, 7d or 30d")
    first: date
    last: date
    current: SalesOut
    previous: SalesOut = Field(description="the same number of days just before")
    change_pct: ChangeOut = Field(description="current against previous in %; null when previous is 0")
    same_time: SameTimeOut | None = Field(None, description="today only: yesterday up to the same hour")


class HeatCellOut(BaseModel):
    weekday: int = Field(description="0 Monday … 6 Sunday")
    hour: int = Field(description="the store's local hour, 0-23")
    orders: int
    gmv_fen: int


class HeatmapOut(BaseModel):
    first: date
    last: date
    cells: list[HeatCellOut] = Field(description="hours without a paid order are left out")


class OverviewOut(BaseModel):
    timezone: str
    today: date
    rolled_at: datetime | None = Field(description="the last roll-up (null: none yet)")
    periods: list[PeriodOut]
    heatmap: HeatmapOut


class StagesOut(BaseModel):
    view: int
    cart: int
    checkout: int
    paid: int


class StageFiguresOut(BaseModel):
    events: StagesOut
    customers: StagesOut = Field(description="distinct customers per day, summed over the period's days")
    view_to_cart: float | None = Field(description="浏览-加购率: customers who added to cart / who viewed")
    cart_to_paid: float | None = Field(description="加购-支付率: customers who paid / who added to cart")


class ProductFunnelOut(StageFiguresOut):
    product_id: str
    title: str


class SourceStagesOut(StagesOut):
    src: str


class FunnelOut(BaseModel):
    first: date
    last: date
    overall: StageFiguresOut
    by_src: list[SourceStagesOut] = Field(description="events by where the product page was opened from")
    products: list[ProductFunnelOut] = Field(description="most viewed first")


class SourceOut(BaseModel):
    src: str
    orders: int
    gmv_fen: int
    customers: int


class ConversionsOut(BaseModel):
    customers: int
    buyers: int
    orders: int
    gmv_fen: int


class CampaignSourceOut(BaseModel):
    campaign_id: int
    name: str
    state: str
    sent: int
    opens: int
    orders: int = Field(description="paid orders attributed to the campaign's pages in the period")
    gmv_fen: int
    recipients: ConversionsOut = Field(description="recipients' orders within 7 days of the start")
    holdout: ConversionsOut


class ReminderGroupOut(BaseModel):
    carts: int
    converted: int
    revenue_fen: int
    conversion: float


class RemindersOut(BaseModel):
    orders: int = Field(description="paid orders attributed to reminder pages in the period")
    gmv_fen: int
    customers: int
    reminded: ReminderGroupOut
    holdout: ReminderGroupOut


class BotOut(BaseModel):
    questions: int = Field(description="customers' text messages")
    answered: int
    unanswered: int = Field(description="the bot fell back (no FAQ, no intent)")
    handoffs: int = Field(description="conversations handed to a person")
    answered_share: float | None
    handoff_share: float | None


class AgentOut(BaseModel):
    agent_id: int
    display_name: str
    resolved: int
    csat_count: int
    csat_avg: float | None


class SourcesOut(BaseModel):
    first: date
    last: date
    by_src: list[SourceOut]
    campaigns: list[CampaignSourceOut]
    reminders: RemindersOut
    bot: BotOut
    agents: list[AgentOut]


class CohortOut(BaseModel):
    week: date = Field(description="the Monday of the week of the first paid order")
    new_buyers: int
    repeat_7d: float | None = Field(description="null until every customer of the week had 7 days")
    repeat_30d: float | None


class RepeatOut(BaseModel):
    first: date
    last: date
    repeat_7d: float | None = Field(description="over the cohorts whose 7 days have passed")
    repeat_30d: float | None
    cohorts: list[CohortOut]


class Table(StrEnum):
    overview = "overview"
    heatmap = "heatmap"
    funnel = "funnel"
    funnel_sources = "funnel_sources"
    products = "products"
    sources = "sources"
    campaigns = "campaigns"
    reminders = "reminders"
    bot = "bot"
    agents = "agents"
    repeat = "repeat"


# ----- routes -----------------------------------------------------------------------------------------


def add_analytics_routes(router: APIRouter, api: BackOfficeBackend, auth: RoleCheck) -> None:
    """Adds this page's routes to the staff router."""
    admins = auth.requiring(Role.ADMIN)

    def store() -> tuple[ZoneInfo, date]:
        if api.backoffice is None:
            raise AnalyticsUnavailable("the numbers are not set up on this service")
        zone = ZoneInfo(api.backoffice.timezone)
        return zone, utcnow().astimezone(zone).date()

    @router.get("/analytics/overview", response_model=OverviewOut,
                summary="GMV, paid orders, paying customers, AOV and refunds by period; orders by weekday and hour",
                responses={503: {"description": "ANALYTICS_UNAVAILABLE"}})
    def overview_route(principal: Principal = admins) -> OverviewOut:
        zone, today = store()
        hour = utcnow().astimezone(zone).hour
        with api.factory() as session:
            return OverviewOut(timezone=str(zone), **overview(session, today=today, hour=hour))

    @router.get("/analytics/funnel", response_model=FunnelOut,
                summary="Views → add to cart → checkout → paid, overall, by source and per product",
                responses={503: {"description": "ANALYTICS_UNAVAILABLE"}})
    def funnel_route(days: int = DAYS, principal: Principal = admins) -> FunnelOut:
        _, today = store()
        with api.factory() as session:
            return FunnelOut.model_validate(funnel(session, period=last_days(today, days)))

    @router.get("/analytics/sources", response_model=SourcesOut,
                summary="Orders and GMV by source, campaign and cart reminder (with holdouts); the bot; CSAT",
                responses={503: {"description": "ANALYTICS_UNAVAILABLE"}})
    def sources_route(days: int = DAYS, principal: Principal = admins) -> SourcesOut:
        zone, today = store()
        period = last_days(today, days)
        with api.factory() as session:
            return SourcesOut.model_validate(_sources(session, period, zone))

    @router.get("/analytics/repeat", response_model=RepeatOut,
                summary="Share of customers who buy again within 7 and 30 days of their first order",
                responses={503: {"description": "ANALYTICS_UNAVAILABLE"}})
    def repeat_route(principal: Principal = admins) -> RepeatOut:
        _, today = store()
        with api.factory() as session:
            return RepeatOut.model_validate(repeat_purchase(session, today=today))

    @router.get("/analytics/export/{table}", response_class=Response,
                summary="One of the page's tables as CSV (money in yuan), for a spreadsheet",
                responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 with a BOM (Excel reads it)"},
                           503: {"description": "ANALYTICS_UNAVAILABLE"}})
    def export(table: Table = TABLE, days: int = DAYS,
               principal: Principal = admins) -> Response:
        zone, today = store()
        with api.factory() as session:
            header, rows = EXPORTS[table](session, zone, today, days)
        return _csv(f"{table.value}-{today.isoformat()}.csv", header, rows)


def _sources(session: Session, period: Period, zone: ZoneInfo) -> dict[str, Any]:
    since = datetime.combine(period.first, time(), tzinfo=zone).astimezone(UTC)
    return sources(session, period=period, since=since)


# ----- CSV --------------------------------------------------------------------------------------------

Rows = tuple[list[str], Iterable[list[object]]]
PERIOD_LABEL = {"today": "今天", "yesterday": "昨天", "7d": "近7天", "30d": "近30天"}
SOURCE_LABEL = {"card": "聊天商品卡片", "cart_reminder": "购物车提醒", "campaign": "营销活动", "share": "分享",
                "direct": "直接访问"}
WEEKDAY = "一二三四五六日"


def yuan(fen: int) -> str:
    """Exact: integer arithmetic on fen, never a float."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _overview_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    periods = overview(session, today=today)["periods"]
    header = ["时段", "起", "止", "GMV(元)", "支付订单", "支付人数", "客单价(元)", "退款笔数", "退款金额(元)",
              "上期GMV(元)", "上期订单", "GMV变化%"]
    return header, [[PERIOD_LABEL[p["key"]], p["first"], p["last"], yuan(p["current"]["gmv_fen"]),
                     p["current"]["orders"], p["current"]["customers"], yuan(p["current"]["aov_fen"]),
                     p["current"]["refunds"], yuan(p["current"]["refund_fen"]), yuan(p["previous"]["gmv_fen"]),
                     p["previous"]["orders"], _num(p["change_pct"]["gmv_fen"])] for p in periods]


def _heatmap_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    cells = overview(session, today=today)["heatmap"]["cells"]
    return ["星期", "小时", "支付订单", "GMV(元)"], [
        [f"周{WEEKDAY[c['weekday']]}", c["hour"], c["orders"], yuan(c["gmv_fen"])] for c in cells]


FUNNEL_HEADER = ["浏览人数", "加购人数", "下单人数", "支付人数", "浏览次数", "加购次数", "下单次数", "支付次数",
                 "浏览-加购率", "加购-支付率"]


def _stages(figures: dict[str, Any]) -> list[object]:
    people, events = figures["customers"], figures["events"]
    return [people["view"], people["cart"], people["checkout"], people["paid"], events["view"], events["cart"],
            events["checkout"], events["paid"], pct(figures["view_to_cart"]), pct(figures["cart_to_paid"])]


def _funnel_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = funnel(session, period=last_days(today, days))
    return ["范围", *FUNNEL_HEADER], [["全店", *_stages(found["overall"])]]


def _funnel_source_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = funnel(session, period=last_days(today, days))
    return ["来源", "浏览次数", "加购次数", "下单次数", "支付次数"], [
        [SOURCE_LABEL.get(row["src"], row["src"]), row["view"], row["cart"], row["checkout"], row["paid"]]
        for row in found["by_src"]]


def _product_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = funnel(session, period=last_days(today, days))
    return ["商品ID", "商品", *FUNNEL_HEADER], [[p["product_id"], p["title"], *_stages(p)] for p in found["products"]]


def _source_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = _sources(session, last_days(today, days), zone)
    return ["来源", "支付订单", "GMV(元)", "支付人数"], [
        [SOURCE_LABEL.get(s["src"], s["src"]), s["orders"], yuan(s["gmv_fen"]), s["customers"]]
        for s in found["by_src"]]


def _campaign_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = _sources(session, last_days(today, days), zone)
    header = ["活动ID", "活动", "已发送", "打开人数", "归因订单", "归因GMV(元)", "发送组人数", "发送组下单人数",
              "发送组GMV(元)", "对照组人数", "对照组下单人数", "对照组GMV(元)"]
    return header, [[c["campaign_id"], c["name"], c["sent"], c["opens"], c["orders"], yuan(c["gmv_fen"]),
                     c["recipients"]["customers"], c["recipients"]["buyers"], yuan(c["recipients"]["gmv_fen"]),
                     c["holdout"]["customers"], c["holdout"]["buyers"], yuan(c["holdout"]["gmv_fen"])]
                    for c in found["campaigns"]]


def _reminder_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = _sources(session, last_days(today, days), zone)["reminders"]
    return ["分组", "购物车", "转化", "转化率", "收入(元)"], [
        [label, found[group]["carts"], found[group]["converted"], pct(found[group]["conversion"]),
         yuan(found[group]["revenue_fen"])] for group, label in (("reminded", "已提醒"), ("holdout", "对照组"))]


def _bot_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    bot = _sources(session, last_days(today, days), zone)["bot"]
    return ["提问数", "机器人解答", "未能解答", "转人工", "解答占比", "转人工占比"], [
        [bot["questions"], bot["answered"], bot["unanswered"], bot["handoffs"], pct(bot["answered_share"]),
         pct(bot["handoff_share"])]]


def _agent_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    agents = _sources(session, last_days(today, days), zone)["agents"]
    return ["客服", "解决会话", "评价数", "平均满意度"], [
        [a["display_name"], a["resolved"], a["csat_count"], _num(a["csat_avg"])] for a in agents]


def _repeat_rows(session: Session, zone: ZoneInfo, today: date, days: int) -> Rows:
    found = repeat_purchase(session, today=today)
    return ["首单周(周一)", "新客数", "7天复购率", "30天复购率"], [
        [c["week"], c["new_buyers"], pct(c["repeat_7d"]), pct(c["repeat_30d"])] for c in found["cohorts"]]


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


EXPORTS: dict[Table, Callable[[Session, ZoneInfo, date, int], Rows]] = {
    Table.overview: _overview_rows, Table.heatmap: _heatmap_rows, Table.funnel: _funnel_rows,
    Table.funnel_sources: _funnel_source_rows, Table.products: _product_rows, Table.sources: _source_rows,
    Table.campaigns: _campaign_rows, Table.reminders: _reminder_rows,
    Table.bot: _bot_rows, Table.agents: _agent_rows, Table.repeat: _repeat_rows,
}


def _cell(value: object) -> object:
    """A title or name a spreadsheet would run as a formula (=, +, @, or - not starting a number) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "-") and not value[1:2].isdigit():
        return "'" + value
    return value


def _csv(filename: str, header: list[str], rows: Iterable[list[object]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    # The BOM makes Excel read the file as UTF-8 (Chinese headers and titles).
    return Response(("\ufeff" + out.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
