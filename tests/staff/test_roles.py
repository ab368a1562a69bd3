"""The permission helpers the staff routes share: roles (admins pass every check) and skill groups."""

from __future__ import annotations

import pytest

from staff.errors import Forbidden
from staff.roles import STATUS_TRANSITIONS, Principal, Role, Status, may_see_group, require, require_group


def principal(role: Role, *groups: str) -> Principal:
    return Principal(staff_id=1, username="someone", role=role, groups=groups, via="token")


@pytest.mark.parametrize(("role", "allowed"), [
    (Role.AGENT, False), (Role.MARKETER, False), (Role.SUPERVISOR, True), (Role.ADMIN, True),
])
def test_require_passes_the_named_roles_and_admins(role: Role, allowed: bool) -> None:
    who = principal(role)
    if allowed:
        assert require(who, Role.SUPERVISOR) is who
    else:
        with pytest.raises(Forbidden) as refused:
            require(who, Role.SUPERVISOR)
        assert refused.value.code == "FORBIDDEN"


def test_only_admins_pass_a_check_naming_no_role() -> None:
    assert require(principal(Role.ADMIN)).role is Role.ADMIN
    with pytest.raises(Forbidden):
        require(principal(Role.SUPERVISOR))


def test_agents_see_their_own_groups_and_supervisors_all() -> None:
    agent = principal(Role.AGENT, "presale")
    assert may_see_group(agent, "presale") and not may_see_group(agent, "aftersale")
    with pytest.raises(Forbidden):
        require_group(agent, "aftersale")
    assert may_see_group(principal(Role.SUPERVISOR), "aftersale")
    assert not may_see_group(principal(Role.MARKETER), "presale")


def test_every_status_has_its_transitions_listed() -> None:
    assert set(STATUS_TRANSITIONS) == set(Status)
    assert all(targets <= set(Status) for targets in STATUS_TRANSITIONS.values())
