"""How every CLI command answers a refusal: one clear line (plus the rest of a list of problems) and
exit status 1, nothing changed; any package's error, as they all share one shape."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from chatshop.settings import Settings
from foundation.errors import ChatshopError

Command = Callable[[Settings, argparse.Namespace], int]


def guarded(command: Command) -> Command:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        try:
            return command(settings, args)
        except ChatshopError as exc:
            print(f"chatshop: {exc.code}: {exc.message}", file=sys.stderr)
            problems = exc.details().get("errors")
            for line in list(problems)[1:] if isinstance(problems, list) else []:
                print(f"  {line}", file=sys.stderr)
            return 1

    return run
