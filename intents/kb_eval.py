"""Measured matcher quality: run labelled cases through a matcher and score the outcomes.

A case is correct when the expected FAQ is answered, or, for a case that expects no FAQ
(null), when the matcher does anything but answer (suggesting or falling back is the right
abstention).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from intents.errors import KnowledgeBaseError
from intents.kb import MatchResult, Outcome

__all__ = ["Case", "Evaluation", "Miss", "evaluate", "load_cases", "percentile"]


@dataclass(frozen=True)
class Case:
    text: str
    expect: str | None  # an FAQ id, or None where the bot must not answer


@dataclass(frozen=True)
class Miss:
    text: str
    expect: str | None
    outcome: str
    got: str | None
    score: float


@dataclass(frozen=True)
class Evaluation:
    cases: int
    accuracy: float
    in_scope_top1: float
    answered_precision: float
    p50_ms: float
    p99_ms: float
    misses: tuple[Miss, ...]

    def figures(self) -> dict[str, float]:
        return {
            "accuracy": round(self.accuracy, 4),
            "in_scope_top1": round(self.in_scope_top1, 4),
            "answered_precision": round(self.answered_precision, 4),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


def load_cases(path: Path, known_ids: Sequence[str] | None = None) -> list[Case]:
    """Cases from a YAML file (`cases:` list of {text, expect}); bad entries name their index."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: cases file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise KnowledgeBaseError(f"{path}: cannot read cases: {exc}") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("cases"), list):
        raise KnowledgeBaseError(f"{path}: missing top-level 'cases' list")
    known = set(known_ids) if known_ids is not None else None
    return [_case(path, index, entry, known) for index, entry in enumerate(document["cases"])]


def _case(path: Path, index: int, entry: Any, known: set[str] | None) -> Case:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        raise KnowledgeBaseError(f"{path}: cases[{index}]: needs a non-empty 'text'")
    expect = entry.get("expect")
    if expect is not None and not isinstance(expect, str):
        raise KnowledgeBaseError(f"{path}: cases[{index}]: 'expect' must be an FAQ id or null")
    if expect is not None and known is not None and expect not in known:
        raise KnowledgeBaseError(f"{path}: cases[{index}]: 'expect' names no FAQ of the KB: {expect!r}")
    return Case(entry["text"], expect)


def evaluate(match: Callable[[str], MatchResult], cases: Sequence[Case]) -> Evaluation:
    correct = in_scope = top1 = answered = answered_right = 0
    latencies: list[float] = []
    misses: list[Miss] = []
    for case in cases:
        started = time.perf_counter()
        result = match(case.text)
        latencies.append((time.perf_counter() - started) * 1000)
        best = result.best
        best_id = best.faq.id if best else None
        is_answer = result.outcome is Outcome.ANSWER
        if case.expect is not None:
            in_scope += 1
            top1 += best_id == case.expect
        if is_answer:
            answered += 1
            answered_right += best_id == case.expect
        right = (is_answer and best_id == case.expect) if case.expect else not is_answer
        correct += right
        if not right:
            misses.append(Miss(case.text, case.expect, result.outcome.value, best_id, best.score if best else 0.0))
    return Evaluation(
        cases=len(cases),
        accuracy=_ratio(correct, len(cases)),
        in_scope_top1=_ratio(top1, in_scope),
        answered_precision=_ratio(answered_right, answered),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        misses=tuple(misses),
    )


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
