"""Small SQL helpers of the commerce core."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (execute() is typed as Result; DML returns a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount)
