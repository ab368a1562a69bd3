"""What supervisors read of each agent's work: conversations resolved, the customers' average rating,
and response times (first response: from the first assignment to the agent's first answer; resolution:
from the first assignment to the resolution), medians over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.handoff.models import Handoff, HandoffState, RoutingAgent


@dataclass(frozen=True)
class AgentFigures:
    staff_id: int
    display_name: str
    resolved: int
    csat_avg: float | None
    csat_count: int
    first_response_s: float | None  # median
    resolution_s: float | None  # median


def agent_figures(session: Session, *, since: datetime) -> list[AgentFigures]:
    """Per agent, over the handoffs they resolved since `since` (the agent holding it at resolution)."""
    rows = session.execute(
        select(Handoff.agent_id, Handoff.csat_score, Handoff.first_assigned_at, Handoff.first_reply_at,
               Handoff.resolved_at)
        .where(Handoff.state == HandoffState.RESOLVED, Handoff.resolved_at >= since, Handoff.agent_id.is_not(None))
    ).all()
    names = dict(session.execute(select(RoutingAgent.staff_id, RoutingAgent.display_name)).tuples().all())
    by_agent: dict[int, list[tuple[int | None, float | None, float | None]]] = {}
    for agent_id, score, assigned, replied, resolved in rows:
        if agent_id is None:
            continue
        first = (replied - assigned).total_seconds() if assigned and replied else None
        whole = (resolved - assigned).total_seconds() if assigned and resolved else None
        by_agent.setdefault(int(agent_id), []).append((score, first, whole))
    return [_figures(agent_id, names.get(agent_id, f"#{agent_id}"), handled)
            for agent_id, handled in sorted(by_agent.items())]


def _figures(agent_id: int, name: str, handled: list[tuple[int | None, float | None, float | None]]) -> AgentFigures:
    scores = [score for score, _, _ in handled if score is not None]
    firsts = [first for _, first, _ in handled if first is not None]
    wholes = [whole for _, _, whole in handled if whole is not None]
    return AgentFigures(
        staff_id=agent_id, display_name=name, resolved=len(handled),
        csat_avg=round(sum(scores) / len(scores), 2) if scores else None, csat_count=len(scores),
        first_response_s=median(firsts) if firsts else None, resolution_s=median(wholes) if wholes else None,
    )


def period_starts(now: datetime, zone: ZoneInfo) -> dict[str, datetime]:
    """The start of today (in the store's timezone) and of the last 7 days, in UTC."""
    local_midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"today": local_midnight, "last_7_days": local_midnight - timedelta(days=6)}
