"""Routing from both processes at once: many customers ask for a person, their pushes spread over the two
processes, while agents signed in to either resolve conversations and take the next: every conversation is
assigned once, to one agent, and none is lost."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from bot.handoff.models import EventKind, Handoff, HandoffEvent, HandoffState, RoutingAgent
from bot.models import Customer
from staff.models import StaffMember
from tests.cluster.conftest import Cluster
from tests.staff.test_conversations_api import go_online
from tests.support.sandbox_client import wait_until

CUSTOMERS = 14
AGENTS = 3
MAX_CHATS = 2  # 6 at once: most customers wait in the queue for an agent to finish


def openid(n: int) -> str:
    return f"o_route_{n:02d}"


def handoffs_of(cluster: Cluster) -> dict[str, list[tuple[int, str, int | None]]]:
    """Each customer's handoffs: (id, state, agent)."""
    with cluster.engine.connect() as connection:
        rows = connection.execute(select(Customer.openid, Handoff.id, Handoff.state, Handoff.agent_id)
                                  .join(Customer, Customer.id == Handoff.customer_id)
                                  .where(Customer.openid.like("o_route_%")))
        found: dict[str, list[tuple[int, str, int | None]]] = {}
        for who, handoff_id, state, agent_id in rows:
            found.setdefault(who, []).append((handoff_id, state, agent_id))
        return found


def resolve_all(agents: list[httpx.Client]) -> int:
    """Every agent ends the conversations they hold, all at once (each through the process they use)."""
    jobs = []
    for agent in agents:
        listed = agent.get("/staff/api/conversations", params={"mine": 1}).json()["conversations"]
        jobs += [(agent, conversation["id"]) for conversation in listed if conversation["state"] == "assigned"]

    def resolve(job: tuple[httpx.Client, int]) -> int:
        return job[0].post(f"/staff/api/conversations/{job[1]}/resolve").status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(resolve, jobs))
    assert set(codes) <= {200}, codes
    return len(jobs)


def test_customers_asking_through_both_processes_are_each_assigned_once(cluster: Cluster) -> None:
    # Given agents online, each signed in to one process or the other (their resolves are served there)
    agents = []
    for n in range(AGENTS):
        cluster.add_agent(f"router{n}", max_chats=MAX_CHATS)
        agents.append(cluster.signed_in(cluster.processes[n % 2], f"router{n}"))
        go_online(agents[-1])
    served_before = len(cluster.balancer.served)
    # When many customers ask for a person at once, their pushes spread over the two processes
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda n: cluster.customer(openid(n)).says("人工"), range(CUSTOMERS)))
    assert all(answer["status"] == 200 for answer in sent), sent
    assert Counter(cluster.balancer.served[served_before:]) == {0: CUSTOMERS // 2, 1: CUSTOMERS - CUSTOMERS // 2}
    # and agents keep resolving what they hold while routing gives them the next
    resolved = 0
    while resolved < CUSTOMERS:
        done = resolve_all(agents)
        assert done, f"nobody holds a conversation with {CUSTOMERS - resolved} unresolved: {handoffs_of(cluster)}"
        resolved += done
    # Then every customer had one conversation, assigned once, to one agent, and resolved: none lost
    seen = wait_until(lambda: handoffs_of(cluster), lambda h: len(h) == CUSTOMERS, 5)
    assert sorted(seen) == [openid(n) for n in range(CUSTOMERS)]
    assert all(len(handoffs) == 1 and handoffs[0][1] == HandoffState.RESOLVED for handoffs in seen.values()), seen
    with cluster.engine.connect() as connection:
        ids = [handoffs[0][0] for handoffs in seen.values()]
        assigned = Counter(connection.scalars(select(HandoffEvent.handoff_id).where(
            HandoffEvent.handoff_id.in_(ids), HandoffEvent.kind == EventKind.ASSIGNED)))
        held = connection.scalar(select(func.sum(RoutingAgent.active_chats)).join(
            StaffMember, StaffMember.id == RoutingAgent.staff_id).where(StaffMember.username.like("router%")))
    assert assigned == Counter({handoff_id: 1 for handoff_id in ids}), assigned
    assert held == 0  # each agent's load went up once per conversation and down once
