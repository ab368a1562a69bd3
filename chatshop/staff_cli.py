"""Staff account commands.

    chatshop staff add USERNAME --role agent [--group 售前]... [--max-chats 5] [--display-name 小王]
    chatshop staff list
    chatshop staff disable USERNAME
    chatshop staff token USERNAME       prints a new personal API token, once

The password comes from CHATSHOP_STAFF_PASSWORD or a prompt, never from an argument: arguments end
up in shell histories and in every other user's `ps`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from chatshop.cli_guard import guarded
from chatshop.database import migrated_database
from chatshop.settings import Settings
from chatshop.staff_wiring import staff_config
from foundation.errors import ChatshopError
from staff.accounts import add_staff, disable_staff, issue_token, list_staff
from staff.roles import Role
from storage.db import transaction

PASSWORD_VARIABLE = "CHATSHOP_STAFF_PASSWORD"



class PasswordUnavailable(ChatshopError):
    """No password for the new account: none in the environment, and no terminal to ask in."""

    code = "NO_PASSWORD"


def add_staff_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `chatshop staff ...` on the `chatshop` parser."""
    staff = commands.add_parser("staff", parents=[common], help="staff accounts")
    staff_commands = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_commands.add_parser("add", parents=[common], help=f"add an account (password: ${PASSWORD_VARIABLE} "
                                                                 "or a prompt)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--group", action="append", default=[], dest="groups", help="a skill group (repeatable)")
    add.add_argument("--max-chats", type=int, default=5, help="concurrent conversations (default 5)")
    add.add_argument("--display-name", help="the name customers and colleagues see (default: the username)")
    add.set_defaults(run=guarded(_add))
    staff_commands.add_parser("list", parents=[common], help="every account").set_defaults(run=guarded(_list))
    disable = staff_commands.add_parser("disable", parents=[common], help="disable an account, ending its sessions")
    disable.add_argument("username")
    disable.set_defaults(run=guarded(_disable))
    token = staff_commands.add_parser("token", parents=[common], help="print a new personal API token (once)")
    token.add_argument("username")
    token.set_defaults(run=guarded(_token))


def _add(settings: Settings, args: argparse.Namespace) -> int:
    password = _new_password()
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        member = add_staff(session, config=staff_config(settings), username=args.username, password=password,
                           role=Role(args.role), display_name=args.display_name, groups=args.groups,
                           max_chats=args.max_chats)
        print(f"added {member.username} ({member.role})")
    known = {group.name for group in settings.routing.groups}
    for group in sorted(set(args.groups or ()) - known):
        # Allowed (groups may be configured later), but nothing routes there until routing.groups names it.
        print(f"note: skill group {group!r} is not in routing.groups ({', '.join(sorted(known))}); "
              "no conversation is routed to it until it is", file=sys.stderr)
    return 0


def _list(settings: Settings, _args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, factory() as session:
        members = list_staff(session)
        print(f"{'username':<20} {'role':<10} {'status':<8} {'max':>3}  {'state':<8} groups")
        for m in members:
            state = "disabled" if m.disabled else "active"
            print(f"{m.username:<20} {m.role:<10} {m.status:<8} {m.max_chats:>3}  {state:<8} "
                  f"{','.join(m.skill_groups) or '-'}")
    return 0


def _disable(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        member = disable_staff(session, username=args.username)
        print(f"disabled {member.username}; its sessions and tokens no longer work")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    with migrated_database(settings.database.url) as factory, transaction(factory) as session:
        token = issue_token(session, username=args.username)
    print(token)
    print("shown once: only its hash is kept; a new token replaces the previous one", file=sys.stderr)
    return 0


def _new_password() -> str:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given:
        return given
    if not sys.stdin.isatty():
        raise PasswordUnavailable(f"no password: set {PASSWORD_VARIABLE} or run in a terminal to be asked")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise PasswordUnavailable("the two passwords differ")
    return first
