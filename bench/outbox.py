"""Benchmark an outbox claim on a store with a long history: with and without the consumer's watermark.

--handled events are written and marked handled by the consumer, then --fresh new ones. A claim of the
fresh ones is timed (in a transaction rolled back, so each repeat claims the same) twice: with no
watermark, so it walks every handled event as every claim did before watermarks, and after the
watermark has settled on the handled ones. Both must claim exactly the fresh events.

The database is emptied and migrated first, so give it a scratch database. Prints a markdown table.

    .venv/bin/python bench/outbox.py --database-url postgresql://postgres@localhost:5432/outbox_bench
        [--handled 200000] [--fresh 20] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commerce_core import reset  # the commerce bench's own: migrate, then empty every table
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from commerce.models import OutboxEvent, OutboxReceipt
from commerce.outbox import claim_events, watermark
from storage.clock import utcnow
from storage.db import transaction

CONSUMER = "bench"
BATCH = 10_000


def write_handled(factory: sessionmaker[Session], count: int) -> None:
    now = utcnow()
    for start in range(0, count, BATCH):
        with transaction(factory) as session:
            size = min(BATCH, count - start)
            rows = [{"kind": "order_paid", "payload": {}, "created_at": now} for _ in range(size)]
            ids = session.scalars(insert(OutboxEvent).returning(OutboxEvent.id), rows).all()
            session.execute(insert(OutboxReceipt), [{"event_id": i, "consumer": CONSUMER, "claimed_at": now}
                                                    for i in ids])


def write_fresh(factory: sessionmaker[Session], count: int) -> None:
    with transaction(factory) as session:
        session.execute(insert(OutboxEvent), [{"kind": "order_placed", "payload": {}, "created_at": utcnow()}
                                              for _ in range(count)])


def time_claims(factory: sessionmaker[Session], repeats: int) -> tuple[float, int]:
    """Median milliseconds of a claim, and how many events it claimed (the same each time)."""
    timings, claimed = [], 0
    for _ in range(repeats):
        with factory() as session:  # closed without a commit: the claim is rolled back
            started = time.perf_counter()
            claimed = len(claim_events(session, consumer=CONSUMER, limit=1000))
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), claimed


def settle(factory: sessionmaker[Session]) -> int:
    """Two claims with no settle window: the first notes the newest id, the second moves up to it."""
    for _ in range(2):
        with transaction(factory) as session:
            claim_events(session, consumer=CONSUMER, limit=0, settle=timedelta(0))
    with factory() as session:
        return watermark(session, CONSUMER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a scratch database: it is emptied")
    parser.add_argument("--handled", type=int, default=200_000)
    parser.add_argument("--fresh", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    factory = reset(args.database_url)
    write_handled(factory, args.handled)
    write_fresh(factory, args.fresh)
    before_ms, before_claimed = time_claims(factory, args.repeats)
    mark = settle(factory)
    after_ms, after_claimed = time_claims(factory, args.repeats)
    with factory() as session:
        events = session.scalar(select(func.count()).select_from(OutboxEvent))
    print(f"| {factory.kw['bind'].dialect.name}: {events} events, {args.handled} handled | claimed | median ms |")
    print("|---|---:|---:|")
    print(f"| no watermark (walks every handled event) | {before_claimed} | {before_ms:.1f} |")
    print(f"| watermark at {mark} | {after_claimed} | {after_ms:.1f} |")
    return 0 if before_claimed == after_claimed == args.fresh and mark >= args.handled else 1


if __name__ == "__main__":
    sys.exit(main())
