"""Tuning signals for the FAQ matcher that never touch the held-out cases.

Two figures, both from data the matcher may be tuned on:

  dev  accuracy on the development sets: tests/fixtures/nlu/kb_dev_independent.yaml (written
       from the FAQs' questions and answers only, like the independent held-out set, so the
       better guide), tests/fixtures/nlu/kb_heldout_blind.yaml (written the same way; a held-out
       set until its first run, tuned on since) and tests/fixtures/nlu/kb_dev.yaml (written
       alongside the KB's phrasings);
  cv   cross-validation over the KB's own phrasings, in two parts:
         in-scope   the phrasings are split into --folds folds; each fold is held out of its FAQs
                    (an FAQ always keeps at least one phrasing), the matcher is built on the rest
                    and every left-out phrasing must be answered with its own FAQ;
         abstain    the FAQs are split into --folds folds; each fold is removed from the KB and
                    the removed FAQs' phrasings must not be answered (a menu or the fallback).
                    Some removed FAQs have a close neighbour, so this part cannot reach 100 %;
                    it is a relative signal for comparing two versions of the matcher.
       cv accuracy is the two parts weighted like the development set (about 2 in scope to 1 not);
  sparse  accuracy of the demo KB cut to its questions plus 0, 1 and 2 phrasings
          (tests/fixtures/kb/demo_sparse_N.yaml) on the two development sets written apart from
          the KB (independent and blind): how the matcher does on a KB as a store starting out
          writes it, without reading the sparse KBs' held-out sets (the stores' and the demo's).

    .venv/bin/python bench/nlu_tuning.py [--folds 5] [--answer-threshold T] [--suggest-threshold T] [--misses]

The held-out sets still unread for tuning are not read here: they are kept to measure the matcher
(`chatshop kb eval --cases tests/fixtures/nlu/kb_heldout_fresh.yaml`, or `make bench-nlu`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chatshop.settings import load_settings
from intents.kb import Faq, KnowledgeBase, load_knowledge_base
from intents.kb_eval import Case, Miss, evaluate, load_cases
from intents.matcher import FaqMatcher
from intents.text import Tokeniser

DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
DEV_SETS = (
    REPO / "tests" / "fixtures" / "nlu" / "kb_dev_independent.yaml",
    REPO / "tests" / "fixtures" / "nlu" / "kb_heldout_blind.yaml",
    REPO / "tests" / "fixtures" / "nlu" / "kb_dev.yaml",
)
SPARSE_KBS = tuple(REPO / "tests" / "fixtures" / "kb" / f"demo_sparse_{kept}.yaml" for kept in (0, 1, 2))
SPARSE_DEV_SETS = DEV_SETS[:2]
IN_SCOPE_SHARE = 2 / 3  # the development set's mix: about two cases in scope for one that is not

MatcherFactory = Callable[[KnowledgeBase], FaqMatcher]


@dataclass(frozen=True)
class CrossValidation:
    in_scope: float  # left-out phrasings answered with their own FAQ
    abstain: float  # phrasings of removed FAQs not answered
    in_scope_cases: int
    abstain_cases: int
    misses: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        return IN_SCOPE_SHARE * self.in_scope + (1 - IN_SCOPE_SHARE) * self.abstain


def describe(miss: Miss) -> str:
    return f"{miss.text!r} expected {miss.expect}, got {miss.outcome} {miss.got} ({miss.score:.2f})"


def without_phrasings(faq: Faq, held: set[int]) -> Faq:
    """The FAQ keeping only the phrasings not in ``held`` (by position; at least the first kept)."""
    phrasings = faq.phrasings()
    kept = [p for i, p in enumerate(phrasings) if i not in held] or [phrasings[0]]
    return replace(faq, question=kept[0], similar=tuple(kept[1:]))


def phrasing_folds(kb: KnowledgeBase, folds: int) -> list[tuple[KnowledgeBase, list[Case]]]:
    """Per fold: the KB without that fold's phrasings, and those phrasings as cases."""
    splits = []
    for fold in range(folds):
        faqs, cases = [], []
        for faq in kb.enabled:
            phrasings = faq.phrasings()
            held = {i for i in range(len(phrasings)) if i % folds == fold}
            if len(held) >= len(phrasings):
                held = set()
            faqs.append(without_phrasings(faq, held))
            cases += [Case(phrasings[i], faq.id) for i in sorted(held)]
        splits.append((KnowledgeBase(tuple(faqs)), cases))
    return splits


def faq_folds(kb: KnowledgeBase, folds: int) -> list[tuple[KnowledgeBase, list[Case]]]:
    """Per fold: the KB without that fold's FAQs, and their phrasings as cases not to answer."""
    faqs = kb.enabled
    return [
        (
            KnowledgeBase(tuple(f for i, f in enumerate(faqs) if i % folds != fold)),
            [Case(p, None) for i, f in enumerate(faqs) if i % folds == fold for p in f.phrasings()],
        )
        for fold in range(folds)
    ]


def cross_validate(kb: KnowledgeBase, build: MatcherFactory, folds: int) -> CrossValidation:
    parts = []
    misses: list[str] = []
    for splits in (phrasing_folds(kb, folds), faq_folds(kb, folds)):
        right = total = 0
        for fold_kb, cases in splits:
            result = evaluate(build(fold_kb).match, cases)
            right += round(result.accuracy * result.cases)
            total += result.cases
            misses += [describe(miss) for miss in result.misses]
        parts.append((right / total if total else 0.0, total))
    (in_scope, in_count), (abstain, out_count) = parts
    return CrossValidation(in_scope, abstain, in_count, out_count, tuple(misses))


def factory(tokeniser: Tokeniser, answer: float, suggest: float) -> MatcherFactory:
    return lambda kb: FaqMatcher(kb, tokeniser, answer_threshold=answer, suggest_threshold=suggest)


def dev_accuracy(kb: KnowledgeBase, build: MatcherFactory, cases: Sequence[Case]) -> tuple[float, list[str]]:
    result = evaluate(build(kb).match, cases)
    return result.accuracy, [describe(miss) for miss in result.misses]


def sparse_accuracy(build: MatcherFactory) -> dict[str, float]:
    """Accuracy of each sparse demo KB on each development set written apart from the KB."""
    figures: dict[str, float] = {}
    for path in SPARSE_KBS:
        kb = load_knowledge_base(path)
        matcher = build(kb)
        for cases in SPARSE_DEV_SETS:
            figures[f"{path.stem} {cases.stem}"] = evaluate(matcher.match, load_cases(cases)).accuracy
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, default=DEMO_KB)
    parser.add_argument("--dev-cases", type=Path, action="append", help="development set(s) (default: both shipped)")
    parser.add_argument("--folds", type=int, default=5)
    settings = load_settings().kb
    parser.add_argument("--answer-threshold", type=float, default=settings.answer_threshold)
    parser.add_argument("--suggest-threshold", type=float, default=settings.suggest_threshold)
    parser.add_argument("--misses", action="store_true", help="list the development and cv misses")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    kb = load_knowledge_base(args.kb)
    tokeniser = Tokeniser()
    build = factory(tokeniser, args.answer_threshold, args.suggest_threshold)
    known = [f.id for f in kb.faqs]
    dev: dict[str, float] = {}
    dev_misses: list[str] = []
    for path in args.dev_cases or DEV_SETS:
        dev[path.stem], misses = dev_accuracy(kb, build, load_cases(path, known_ids=known))
        dev_misses += [f"{path.stem}: {miss}" for miss in misses]
    cv = cross_validate(kb, build, args.folds)
    sparse = sparse_accuracy(build)
    for name, accuracy in dev.items():
        print(f"dev {name:<20} {accuracy * 100:.1f} %")
    print(f"cv in-scope         {cv.in_scope * 100:.1f} %   ({cv.in_scope_cases} left-out phrasings)")
    print(f"cv abstain          {cv.abstain * 100:.1f} %   ({cv.abstain_cases} phrasings of removed FAQs)")
    print(f"cv accuracy         {cv.accuracy * 100:.1f} %")
    for name, accuracy in sparse.items():
        print(f"sparse {name:<34} {accuracy * 100:.1f} %")
    if args.misses:
        print("\n".join(["", "dev misses:", *dev_misses, "", "cv misses:", *cv.misses]))
    if args.json:
        print(json.dumps({"dev": {name: round(value, 4) for name, value in dev.items()}, "cv": round(cv.accuracy, 4),
                          "cv_in_scope": round(cv.in_scope, 4), "cv_abstain": round(cv.abstain, 4),
                          "sparse": {name: round(value, 4) for name, value in sparse.items()}}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
