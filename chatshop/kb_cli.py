"""`chatshop kb ...`: import, export, gaps and eval for the FAQ knowledge base."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatshop.settings import Settings

if TYPE_CHECKING:  # the commands import the language stack only when they run
    from intents.kb import KnowledgeBase
    from intents.matcher import FaqMatcher
    from intents.text import Tokeniser

log = logging.getLogger("chatshop")

MISSES_SHOWN = 20
_UNREAD_SHOWN = 10


def add_kb_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    kb = commands.add_parser("kb", parents=[common], help="the FAQ knowledge base")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)

    imports = kb_commands.add_parser(
        "import", parents=[common], help="validate FILE (.yaml/.yml/.csv/.xlsx) and make it the knowledge base"
    )
    imports.add_argument("file", type=Path)
    imports.set_defaults(run=_import)

    exports = kb_commands.add_parser("export", parents=[common], help="write the knowledge base to FILE")
    exports.add_argument("file", type=Path, help=".yaml, .yml, .csv or .xlsx")
    exports.set_defaults(run=_export)

    gaps = kb_commands.add_parser("gaps", parents=[common], help="unanswered questions grouped by similarity")
    gaps.add_argument("--since", type=_positive_days, metavar="DAYS", help="only the last DAYS days (default: all)")
    gaps.add_argument("--limit", type=int, default=30, help="show at most this many groups (default 30)")
    gaps.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    gaps.set_defaults(run=_gaps)

    evaluate = kb_commands.add_parser("eval", parents=[common], help="measure the matcher on labelled cases")
    evaluate.add_argument("--kb", required=True, type=Path, help="knowledge base file (any import format)")
    evaluate.add_argument("--cases", required=True, type=Path, help="YAML `cases:` list of {text, expect}")
    evaluate.add_argument("--answer-threshold", type=float, help="default: kb.answer_threshold")
    evaluate.add_argument("--suggest-threshold", type=float, help="default: kb.suggest_threshold")
    evaluate.add_argument("--json", action="store_true", help="end with one line of JSON holding every figure")
    evaluate.set_defaults(run=_evaluate)


def _positive_days(value: str) -> float:
    days = float(value)
    if days <= 0:
        raise argparse.ArgumentTypeError("DAYS must be greater than 0")
    return days


def _import(settings: Settings, args: argparse.Namespace) -> int:
    from chatshop.cards_wiring import image_library
    from intents.errors import KnowledgeBaseError
    from intents.kb_io import import_knowledge_base

    try:
        # A card naming an image that is not there would reach customers as text only: refused here.
        kb = import_knowledge_base(args.file, settings.kb.path, check_image=image_library(settings).problem)
    except KnowledgeBaseError as exc:
        log.error("knowledge base not imported, nothing changed: %s", exc)
        print(f"chatshop: {exc}\nnothing was imported; {settings.kb.path} is unchanged", file=sys.stderr)
        return 1
    enabled = len(kb.enabled)
    print(f"imported {len(kb.faqs)} FAQs ({enabled} enabled) into {settings.kb.path}; the service reloads it itself")
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from intents.errors import KnowledgeBaseError
    from intents.kb import load_knowledge_base
    from intents.kb_io import export_knowledge_base

    try:
        kb = load_knowledge_base(settings.kb.path)
        export_knowledge_base(kb, args.file)
    except (KnowledgeBaseError, OSError) as exc:
        print(f"chatshop: {exc}", file=sys.stderr)
        return 1
    print(f"exported {len(kb.faqs)} FAQs to {args.file}")
    return 0


def _gaps(settings: Settings, args: argparse.Namespace) -> int:
    from bot.gaps import choices_since, unanswered_since
    from intents.gaps import cluster_questions
    from intents.text import Tokeniser
    from storage.clock import utcnow
    from storage.db import make_session_factory, open_engine

    since = utcnow() - timedelta(days=args.since) if args.since else None
    engine = open_engine(settings.database.url)
    try:
        with make_session_factory(engine)() as session:
            texts = unanswered_since(session, since)
            choices = choices_since(session, since)
    finally:
        engine.dispose()
    tokeniser = Tokeniser()
    clusters = cluster_questions(texts, tokeniser, choices=choices)[: max(args.limit, 0)]
    closest = _closest_faqs(settings, tokeniser, [cluster.examples[0] for cluster in clusters])
    if args.json:
        groups = [{**c.as_dict(), "closest_faq": faq} for c, faq in zip(clusters, closest, strict=True)]
        print(json.dumps({"questions": len(texts), "groups": groups}, ensure_ascii=False))
        return 0
    window = f"in the last {args.since:g} days" if args.since else "in all"
    print(f"{len(texts)} unanswered questions {window}, {len(clusters)} groups shown, largest first")
    for number, (cluster, faq) in enumerate(zip(clusters, closest, strict=True), start=1):
        print(f"{number:>3}. {cluster.count:>5}×  [{' '.join(cluster.keywords)}]")
        for example in cluster.examples:
            print(f"            {example}")
        if faq is not None:
            print(f"            closest FAQ: {faq['id']} ({faq['score']:.2f}) {faq['question']}")
        if cluster.picked:
            picked = ", ".join(f"{faq_id} ×{times}" for faq_id, times in cluster.picked)
            print(f"            customers picked from the menu: {picked}")
    return 0


def _closest_faqs(settings: Settings, tokeniser: Tokeniser, texts: list[str]) -> list[dict[str, Any] | None]:
    """Per text, the FAQ it came closest to (at least the menu threshold), or None.

    A gap close to an FAQ usually wants a new phrasing of that FAQ rather than a new FAQ; staff
    see which. No KB file yet (a new install) just means no hints.
    """
    from intents.errors import KnowledgeBaseError
    from intents.kb_io import read_knowledge_base
    from intents.matcher import FaqMatcher

    try:
        kb = read_knowledge_base(settings.kb.path)
    except (KnowledgeBaseError, OSError):
        return [None] * len(texts)
    matcher = FaqMatcher(kb, tokeniser, answer_threshold=settings.kb.answer_threshold,
                         suggest_threshold=settings.kb.suggest_threshold)  # fmt: skip
    hints: list[dict[str, Any] | None] = []
    for text in texts:
        best = next(iter(matcher.rank(text, 1)), None)
        near = best is not None and best.score >= matcher.suggest_threshold
        hints.append({"id": best.faq.id, "question": best.faq.question, "score": best.score} if best and near else None)
    return hints


def _question_bank_line(kb: KnowledgeBase, matcher: FaqMatcher) -> str:
    """Which FAQs borrow words from the shipped question bank, and which few-phrasing FAQs do not (they
    have only their own words, so more phrasings help them most)."""
    from intents.matcher import BANK_MAX_FAQS, BORROW_UNTIL

    thin = [faq for faq in kb.enabled if len(faq.phrasings()) < BORROW_UNTIL]
    if not thin:
        return "question bank       not used: every FAQ has enough phrasings of its own"
    if not matcher.bank_read:
        return f"question bank       not used: the KB holds more than {BANK_MAX_FAQS:,} FAQs"
    without = [faq.id for faq in thin if not matcher.topics_of(faq.id)]
    line = f"question bank       {len(thin) - len(without)} of {len(thin)} FAQs with few phrasings read as its topics"
    if without:
        shown = ", ".join(without[:_UNREAD_SHOWN]) + (" …" if len(without) > _UNREAD_SHOWN else "")
        line += f"; own words only (add phrasings): {shown}"
    return line


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from intents.errors import KnowledgeBaseError
    from intents.kb_eval import evaluate, load_cases
    from intents.kb_io import read_knowledge_base
    from intents.matcher import FaqMatcher
    from intents.text import Tokeniser

    answer = settings.kb.answer_threshold if args.answer_threshold is None else args.answer_threshold
    suggest = settings.kb.suggest_threshold if args.suggest_threshold is None else args.suggest_threshold
    try:
        kb = read_knowledge_base(args.kb)
        cases = load_cases(args.cases, known_ids=[faq.id for faq in kb.faqs])
        matcher = FaqMatcher(kb, Tokeniser(), answer_threshold=answer, suggest_threshold=suggest)
    except (KnowledgeBaseError, ValueError) as exc:
        print(f"chatshop: {exc}", file=sys.stderr)
        return 2
    result = evaluate(matcher.match, cases)
    in_scope = sum(case.expect is not None for case in cases)
    print(f"{result.cases} cases ({in_scope} in scope, {result.cases - in_scope} must not be answered) "
          f"against {len(kb.enabled)} FAQs; answer >= {answer:g}, suggest >= {suggest:g}")
    print(f"accuracy            {result.accuracy:7.1%}   (right FAQ answered, or no answer where none fits)")
    print(f"in-scope top-1      {result.in_scope_top1:7.1%}   (right FAQ ranked first, whatever the outcome)")
    print(f"answered precision  {result.answered_precision:7.1%}   (answers given that were right)")
    print(f"latency p50 / p99   {result.p50_ms:.2f} / {result.p99_ms:.2f} ms")
    print(_question_bank_line(kb, matcher))
    for miss in result.misses[:MISSES_SHOWN]:
        print(f"  miss: {miss.text!r} expected {miss.expect or '(no answer)'}, got {miss.outcome} "
              f"{miss.got or '-'} ({miss.score:.2f})")
    if len(result.misses) > MISSES_SHOWN:
        print(f"  ... and {len(result.misses) - MISSES_SHOWN} more misses")
    if args.json:
        print(json.dumps(result.figures()))
    return 0
