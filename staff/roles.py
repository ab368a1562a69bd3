"""Staff roles and availability, and the one permission check every staff route uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from bot.handoff.operations import Actor
from staff.errors import Forbidden


class Role(StrEnum):
    AGENT = "agent"  # answers customers in their skill groups
    SUPERVISOR = "supervisor"  # watches and reassigns conversations of every group
    MARKETER = "marketer"  # tags, subscribe templates and campaigns; no conversations
    ADMIN = "admin"  # everything, including staff accounts and the store's settings


class Status(StrEnum):
    ONLINE = "online"  # takes new conversations, up to max_chats
    AWAY = "away"  # keeps the conversations held, takes no new ones
    OFFLINE = "offline"  # signed off (also what a disabled account is set to)


# Which availability an agent may move to from each one. Every move is allowed today; the table is
# where a future rule (e.g. "away" only from "online") goes, and the tests read it.
STATUS_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.ONLINE: frozenset({Status.ONLINE, Status.AWAY, Status.OFFLINE}),
    Status.AWAY: frozenset({Status.ONLINE, Status.AWAY, Status.OFFLINE}),
    Status.OFFLINE: frozenset({Status.ONLINE, Status.AWAY, Status.OFFLINE}),
}

# Roles that take conversations from the queue (a marketer's availability routes nothing to them).
CHAT_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})

# Roles that see every skill group's work, not only their own groups'.
ALL_GROUPS_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a staff member, signed in by session cookie or personal token."""

    staff_id: int
    username: str
    role: Role
    groups: tuple[str, ...]
    via: str  # "session" or "token"


class RoleCheck(Protocol):
    """StaffAuth's `requiring`, as route modules see it (declared here: staff_api imports those modules)."""

    def requiring(self, *roles: Role) -> Any: ...


def require(principal: Principal, *roles: Role) -> Principal:
    """Refuse (403) unless the principal holds one of `roles`; admins pass every check."""
    if principal.role is Role.ADMIN or principal.role in roles:
        return principal
    allowed = ", ".join(role.value for role in roles) or "admin"
    raise Forbidden(f"this needs the role {allowed}", role=principal.role.value)


def may_see_group(principal: Principal, group: str) -> bool:
    """Whether the principal may see work (queues, conversations) of a skill group."""
    return principal.role in ALL_GROUPS_ROLES or group in principal.groups


def require_group(principal: Principal, group: str) -> Principal:
    """Refuse (403) work of a skill group the principal is not in (supervisors and admins see all)."""
    if may_see_group(principal, group):
        return principal
    raise Forbidden("not a member of this skill group", group=group)


def actor_of(principal: Principal) -> Actor:
    """The principal as the handoff operations see them: a name, their groups, and whether they see all."""
    return Actor(principal.username, principal.staff_id, principal.groups,
                 all_groups=principal.role in ALL_GROUPS_ROLES)
