"""Benchmark the FAQ matcher against a BM25 baseline, and its speed and memory at 10,000 FAQs.

In one run:

  quality  the matcher (kb.answer_threshold / kb.suggest_threshold from config.yaml) and BM25
           (rank_bm25's BM25Okapi over plain jieba tokens, one document per FAQ, every answer
           threshold swept on the same cases and the best one kept, so the baseline is shown at
           its most favourable) on the held-out cases, and on the development cases;
  scale    a generated knowledge base of --faqs FAQs (product-specific questions built from the
           demo KB's phrasings and generated product names, the names given to the tokeniser as
           user words like a real catalog): index build time, tracemalloc peak and RSS growth
           while building, and per-message latency p50/p99 over --queries messages.

Prints a markdown table (paste it into README.md between the bench:nlu markers) and with --json
a last line holding every figure as JSON.

    .venv/bin/python bench/nlu.py [--faqs 10000] [--queries 2000] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import jieba  # noqa: E402
from rank_bm25 import BM25Okapi  # noqa: E402

from chatshop.settings import load_settings  # noqa: E402
from intents.kb import Candidate, Faq, KnowledgeBase, MatchResult, Outcome, load_knowledge_base  # noqa: E402
from intents.kb_eval import Case, Evaluation, evaluate, load_cases, percentile  # noqa: E402
from intents.matcher import FaqMatcher  # noqa: E402
from intents.text import Tokeniser, normalise  # noqa: E402

DEMO_KB = REPO / "chatshop" / "demo" / "kb.yaml"
HELD_OUT = REPO / "tests" / "fixtures" / "nlu" / "kb_heldout.yaml"
DEV = REPO / "tests" / "fixtures" / "nlu" / "kb_dev.yaml"

ACCURACY_TARGET = 0.90
MARGIN_OVER_BM25 = 0.20
P99_TARGET_MS = 10.0
BUILD_TARGET_S = 30.0


# --------------------------------------------------------------------------- BM25 baseline


class Bm25Matcher:
    """BM25Okapi over plain jieba tokens (no synonyms, no user words), one document per FAQ."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._faqs = list(kb.enabled)
        self._cut = jieba.Tokenizer()
        documents = [self._tokens(" ".join(faq.phrasings())) for faq in self._faqs]
        self._bm25 = BM25Okapi(documents)
        self.threshold = 0.0

    def _tokens(self, text: str) -> list[str]:
        return [token for token in self._cut.lcut(normalise(text)) if token != " "]

    def top(self, text: str) -> tuple[Faq | None, float]:
        tokens = self._tokens(text)
        if not tokens or not self._faqs:
            return None, 0.0
        scores = self._bm25.get_scores(tokens)
        best = max(range(len(scores)), key=lambda i: scores[i])
        return self._faqs[best], float(scores[best])

    def match(self, text: str) -> MatchResult:
        faq, score = self.top(text)
        if faq is None:
            return MatchResult(Outcome.FALLBACK, ())
        outcome = Outcome.ANSWER if score >= self.threshold else Outcome.FALLBACK
        return MatchResult(outcome, (Candidate(faq, score),))


def best_bm25(kb: KnowledgeBase, cases: Sequence[Case]) -> tuple[Evaluation, float]:
    """BM25 at the answer threshold that gives the best accuracy on these very cases."""
    bm25 = Bm25Matcher(kb)
    tops = {case.text: bm25.top(case.text) for case in cases}
    candidates = sorted({score for _, score in tops.values()} | {0.0, float("inf")})

    def cached(text: str) -> MatchResult:
        faq, score = tops[text]
        if faq is None:
            return MatchResult(Outcome.FALLBACK, ())
        return MatchResult(Outcome.ANSWER if score >= bm25.threshold else Outcome.FALLBACK, (Candidate(faq, score),))

    best: tuple[Evaluation, float] | None = None
    for threshold in candidates:
        bm25.threshold = threshold
        result = evaluate(cached, cases)
        if best is None or result.accuracy > best[0].accuracy:
            best = (result, threshold)
    assert best is not None
    bm25.threshold = best[1]
    timed = evaluate(bm25.match, cases)  # the same answers, with real latency
    return Evaluation(**{**best[0].__dict__, "p50_ms": timed.p50_ms, "p99_ms": timed.p99_ms}), best[1]


# --------------------------------------------------------------------------- a large KB

_STYLES = ["法式", "韩版", "复古", "宽松", "修身", "高腰", "小香风", "慵懒风", "通勤", "甜美", "简约", "国潮"]
_MATERIALS = ["碎花", "雪纺", "纯棉", "真丝", "针织", "牛仔", "羊毛", "亚麻", "蕾丝", "灯芯绒", "皮质", "醋酸"]
_ITEMS = ["连衣裙", "半身裙", "衬衫", "阔腿裤", "西装外套", "风衣", "毛衣", "卫衣", "T恤", "背心", "大衣", "套装",
          "口红", "粉底液", "气垫", "眼影盘", "面霜", "精华液", "防晒霜", "卸妆油"]  # fmt: skip


def product_names(count: int, rng: random.Random) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add(f"{rng.choice(_STYLES)}{rng.choice(_MATERIALS)}{rng.choice(_ITEMS)}{rng.randint(1, 99)}号")
    return sorted(names)


def generated_kb(base: KnowledgeBase, size: int, names: Sequence[str], rng: random.Random) -> KnowledgeBase:
    """The base KB plus product-specific FAQs: a product name joined to a base FAQ's phrasings."""
    faqs = list(base.enabled)
    templates = list(base.enabled)
    number = 0
    while len(faqs) < size:
        template, name = rng.choice(templates), rng.choice(names)
        phrasings = rng.sample(template.phrasings(), k=min(4, len(template.phrasings())))
        faqs.append(
            Faq(
                id=f"gen_{number}", question=f"{name}{phrasings[0]}",
                similar=tuple(f"{name}{p}" for p in phrasings[1:]),
                answer=f"{name}：{template.answer}", category=template.category,
            )
        )
        number += 1
    return KnowledgeBase(tuple(faqs))


@dataclass
class ScaleFigures:
    faqs: int
    phrasings: int
    tokeniser_build_s: float
    index_build_s: float
    tracemalloc_peak_mb: float
    rss_delta_mb: float
    queries: int
    p50_ms: float
    p99_ms: float
    cpu_p99_ms: float
    bm25_p50_ms: float
    bm25_p99_ms: float


def _rss_mb() -> float:
    # Linux reports ru_maxrss in KiB; the high-water mark only grows, so a delta is what building added.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _latencies(match: Callable[[str], Any], texts: Sequence[str]) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per message (on a shared machine the two differ)."""
    wall, cpu = [], []
    for text in texts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        match(text)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return wall, cpu


def measure_scale(base: KnowledgeBase, cases: Sequence[Case], size: int, queries: int, seed: int) -> ScaleFigures:
    rng = random.Random(seed)
    names = product_names(max(200, size // 5), rng)
    kb = generated_kb(base, size, names, rng)
    gc.collect()
    rss_before = _rss_mb()
    started = time.perf_counter()
    tokeniser = Tokeniser(user_words=names)
    tokeniser_s = time.perf_counter() - started
    started = time.perf_counter()
    matcher = FaqMatcher(kb, tokeniser)
    build_s = time.perf_counter() - started
    rss_delta = _rss_mb() - rss_before
    # tracemalloc slows allocation several times over, so the peak comes from a second, untimed build.
    tracemalloc.start()
    FaqMatcher(kb, tokeniser)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Messages as customers send them: the held-out texts, some naming a product.
    texts = [case.text for case in cases]
    stream = [rng.choice(names) + t if rng.random() < 0.3 else t for t in (rng.choice(texts) for _ in range(queries))]
    for text in stream[:50]:  # warm caches, as a running service is
        matcher.match(text)
    ours, ours_cpu = _latencies(matcher.match, stream)
    bm25 = Bm25Matcher(kb)
    theirs, _ = _latencies(bm25.top, stream[: max(1, queries // 10)])
    return ScaleFigures(
        faqs=len(kb.faqs), phrasings=sum(len(f.phrasings()) for f in kb.faqs), tokeniser_build_s=tokeniser_s,
        index_build_s=build_s, tracemalloc_peak_mb=peak / 2**20, rss_delta_mb=rss_delta, queries=len(stream),
        p50_ms=percentile(ours, 50), p99_ms=percentile(ours, 99), cpu_p99_ms=percentile(ours_cpu, 99),
        bm25_p50_ms=percentile(theirs, 50), bm25_p99_ms=percentile(theirs, 99),
    )


# --------------------------------------------------------------------------- report


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def report(quality: dict[str, Any], scale: ScaleFigures) -> list[str]:
    held, dev = quality["heldout"], quality["dev"]
    lines = [
        f"| {quality['heldout_cases']} held-out cases ({quality['heldout_oos']} must not be answered), "
        f"{quality['kb_faqs']} FAQs | matcher | BM25 (best threshold) | difference |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (("accuracy", "accuracy"), ("in_scope_top1", "in-scope top-1"),
                       ("answered_precision", "answered precision")):  # fmt: skip
        ours, theirs = held["matcher"][key], held["bm25"][key]
        lines.append(f"| {label} | {_pct(ours)} | {_pct(theirs)} | {(ours - theirs) * 100:+.1f} points |")
    lines.append(f"| p50 / p99 latency (ms) | {held['matcher']['p50_ms']:.2f} / {held['matcher']['p99_ms']:.2f} "
                 f"| {held['bm25']['p50_ms']:.2f} / {held['bm25']['p99_ms']:.2f} | |")
    lines.append(f"| development set ({quality['dev_cases']} cases, used for tuning): accuracy "
                 f"| {_pct(dev['matcher']['accuracy'])} | {_pct(dev['bm25']['accuracy'])} | "
                 f"{(dev['matcher']['accuracy'] - dev['bm25']['accuracy']) * 100:+.1f} points |")
    lines += [
        "",
        f"| generated KB: {scale.faqs:,} FAQs, {scale.phrasings:,} phrasings | matcher | BM25 |",
        "|---|---:|---:|",
        f"| per-message latency p50 / p99 (ms), {scale.queries:,} messages "
        f"| {scale.p50_ms:.2f} / {scale.p99_ms:.2f} | {scale.bm25_p50_ms:.2f} / {scale.bm25_p99_ms:.2f} |",
        f"| CPU time per message p99 (ms) | {scale.cpu_p99_ms:.2f} | |",
        f"| index build (s) | {scale.index_build_s:.1f} (+ {scale.tokeniser_build_s:.1f} tokeniser) | |",
        f"| memory: tracemalloc peak while indexing / RSS growth for tokeniser + index (MB) "
        f"| {scale.tracemalloc_peak_mb:.0f} / {scale.rss_delta_mb:.0f} | |",
    ]
    return lines


def verdicts(quality: dict[str, Any], scale: ScaleFigures) -> list[str]:
    held = quality["heldout"]
    ours, theirs = held["matcher"]["accuracy"], held["bm25"]["accuracy"]
    checks = [
        (ours >= ACCURACY_TARGET, f"held-out accuracy {_pct(ours)} >= {_pct(ACCURACY_TARGET)}"),
        (ours - theirs >= MARGIN_OVER_BM25, f"{(ours - theirs) * 100:.1f} points above BM25 (>= 20)"),
        (scale.p99_ms < P99_TARGET_MS, f"p99 {scale.p99_ms:.2f} ms at {scale.faqs:,} FAQs (< {P99_TARGET_MS:g} ms)"),
        (scale.index_build_s < BUILD_TARGET_S, f"index build {scale.index_build_s:.1f} s (< {BUILD_TARGET_S:g} s)"),
    ]
    return [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, default=DEMO_KB)
    parser.add_argument("--cases", type=Path, default=HELD_OUT)
    parser.add_argument("--dev-cases", type=Path, default=DEV)
    parser.add_argument("--faqs", type=int, default=10_000, help="size of the generated KB (default 10000)")
    parser.add_argument("--queries", type=int, default=2000, help="messages timed against it (default 2000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="end with one line of JSON holding every figure")
    args = parser.parse_args(argv)

    kb_settings = load_settings().kb
    kb = load_knowledge_base(args.kb)
    print(f"quality on {args.cases.name} and {args.dev_cases.name} ...", file=sys.stderr)
    matcher = FaqMatcher(kb, Tokeniser(), answer_threshold=kb_settings.answer_threshold,
                         suggest_threshold=kb_settings.suggest_threshold)  # fmt: skip
    quality: dict[str, Any] = {"kb_faqs": len(kb.enabled)}
    for name, path in (("heldout", args.cases), ("dev", args.dev_cases)):
        cases = load_cases(path, known_ids=[faq.id for faq in kb.faqs])
        evaluate(matcher.match, cases[:20])  # warm-up
        ours = evaluate(matcher.match, cases)
        theirs, threshold = best_bm25(kb, cases)
        quality[name] = {"matcher": ours.figures(), "bm25": {**theirs.figures(), "threshold": round(threshold, 3)}}
        quality[f"{name}_cases"] = len(cases)
        quality[f"{name}_oos"] = sum(case.expect is None for case in cases)
    print(f"scale: generating and indexing {args.faqs:,} FAQs ...", file=sys.stderr)
    held_out = load_cases(args.cases)
    scale = measure_scale(kb, held_out, args.faqs, args.queries, args.seed)
    lines = report(quality, scale)
    print("\n".join(lines))
    print()
    print("\n".join(verdicts(quality, scale)))
    if args.json:
        print(json.dumps({"quality": quality, "scale": scale.__dict__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
