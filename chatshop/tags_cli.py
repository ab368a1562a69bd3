"""`chatshop tags check FILE`: validate a tag rules file, with line numbers, without applying it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot.customers.errors import TagRulesError
from bot.customers.tag_rules import load_tag_rules
from chatshop.settings import Settings


def add_tags_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    tags = commands.add_parser("tags", parents=[common], help="customer tags")
    tags_commands = tags.add_subparsers(dest="tags_command", required=True)
    check = tags_commands.add_parser("check", parents=[common],
                                     help="validate a tag rules file (every problem with its line); nothing is applied")
    check.add_argument("file", type=Path, nargs="?", help="the rules file (default: tags.rules_path)")
    check.set_defaults(run=_check)


def _check(settings: Settings, args: argparse.Namespace) -> int:
    path: Path = args.file or settings.tags.rules_path
    try:
        rules = load_tag_rules(path)
    except TagRulesError as exc:
        for problem in exc.problems:
            print(f"chatshop: {problem}", file=sys.stderr)
        return 1
    by_trigger = ", ".join(f"{trigger} {len(found)}" for trigger, found in rules.by_trigger.items())
    print(f"{path}: {len(rules.rules)} rules ({by_trigger or 'none'})")
    return 0
