"""`chatshop nlu eval`: train on one file, measure on another (intent accuracy, macro F1, entity F1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chatshop.settings import Settings

MISTAKES_SHOWN = 15


def add_nlu_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    nlu = commands.add_parser("nlu", parents=[common], help="intent classification and entity extraction")
    nlu_commands = nlu.add_subparsers(dest="nlu_command", required=True)
    evaluate = nlu_commands.add_parser(
        "eval", parents=[common], help="train on --train, report intent accuracy, macro F1 and entity F1 on --test"
    )
    evaluate.add_argument("--train", required=True, type=Path, help="training data (Rasa 3 YAML or Markdown)")
    evaluate.add_argument("--test", required=True, type=Path, help="held-out examples in the same formats")
    evaluate.add_argument("--catalog", type=Path, help="catalog YAML for product names (default: nlu.catalog_fallback)")
    evaluate.add_argument("--json", action="store_true", help="end with one line of JSON holding every figure")
    evaluate.set_defaults(run=_evaluate)


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from chatshop.dialogue_setup import catalog_file_names, train_parser, training_products
    from intents.nlu.errors import TrainingDataError
    from intents.nlu.evaluate import evaluate
    from intents.nlu.training_data import read_training_data
    from intents.text import Tokeniser

    try:
        train, test = read_training_data(args.train), read_training_data(args.test)
    except TrainingDataError as exc:
        print(f"chatshop: {exc}", file=sys.stderr)
        return 2
    titles = catalog_file_names(args.catalog or settings.nlu.catalog_fallback)
    tokeniser = Tokeniser(user_words=[*titles, *training_products(train)])
    parser = train_parser(train, tokeniser, lambda: titles, threshold=settings.nlu.intent_threshold)
    result = evaluate(parser, test)
    figures = result.as_json()
    print(f"trained on {len(train.examples)} examples ({len(train.intents)} intents) from {args.train}")
    print(f"tested on {result.examples} examples from {args.test}")
    print(f"intent accuracy   {result.intent_accuracy:.1%}")
    print(f"macro F1          {result.macro_f1:.3f}")
    print(f"entity F1         {result.entity_f1:.3f}  (precision {result.entity_precision:.3f}, "
          f"recall {result.entity_recall:.3f}; exact span and type)")
    print(f"confident share   {result.confident_share:.1%} at threshold {settings.nlu.intent_threshold}, "
          f"of which correct {result.confident_accuracy:.1%}")
    print(f"\n{'intent':<16}{'precision':>10}{'recall':>8}{'f1':>7}{'n':>5}")
    for name, row in figures["per_intent"].items():
        print(f"{name:<16}{row['precision']:>10.2f}{row['recall']:>8.2f}{row['f1']:>7.2f}{row['support']:>5}")
    if result.mistakes:
        print(f"\nmistakes ({len(result.mistakes)}, first {min(len(result.mistakes), MISTAKES_SHOWN)}):")
        for m in result.mistakes[:MISTAKES_SHOWN]:
            print(f"  {m.text!r}: expected {m.expected}, got {m.predicted} ({m.confidence:.2f})")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    return 0
