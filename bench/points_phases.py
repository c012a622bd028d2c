"""Where the points consumer's time goes: its handler run in process, batch by batch.

Not a test: it prints figures and never asserts. No broker: the purchases are
translated once, up front, and handed to `PurchaseHandler.apply` in batches, as the
runner would, against a fresh migrated database (embedded PostgreSQL, or the server
`TEST_DATABASE_URL` / `DATABASE_URL` names). It times each phase of a batch:

  load   lock the partitions' clocks and the members' balances; read their lots and
         the purchases the tier rule needs
  apply  the domain: admit, let time pass (vest, warn, expire), earn
  save   build the events; COPY purchases, entries, lots; upsert balances and clocks
  rest   drop what was applied before, move the positions, write the outbox, commit

Two runs of the same log, each into its own database: the collector as Python
starts (the baseline), then as the services tune it (`tune_collector`).

    .venv/bin/python bench/points_phases.py [--purchases 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from points_throughput import fresh_database, make_purchases, on_database_server

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage, Item
from loyalty_kernel.programme import Programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.kafka import partition_of
from loyalty_platform.serving import tune_collector
from loyalty_platform.settings import asyncpg_url
from loyalty_points.bootstrap import units_of_work
from loyalty_points.service_layer.handlers import PurchaseHandler

PARTITIONS = 6


class TimedHandler(PurchaseHandler):
    """The service's handler, with a stopwatch on each hook."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.phases: Counter[str] = Counter()

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[phase] += time.perf_counter() - started

    async def load(self, uow: Any, batch: Any) -> Any:
        with self.timing("load"):
            return await super().load(uow, batch)

    def apply_one(self, work: Any, item: Any) -> None:
        with self.timing("apply"):
            super().apply_one(work, item)

    async def save(self, uow: Any, work: Any) -> int:
        with self.timing("save"):
            return await super().save(uow, work)


def the_log(n: int, members: int, topics: TopicNames) -> list[Item[Any]]:
    offsets = [0] * PARTITIONS
    items = []
    for p in make_purchases(n, members, tag="phase", seed=7):
        partition = partition_of(p.member_id, PARTITIONS)
        message = InboundMessage(topics.purchases, partition, offsets[partition], p.key, p.value, 0)
        offsets[partition] += 1
        items.append(translate_purchase(message))
    return items


async def one_run(server: str, items: Sequence[Item[Any]], batch: int) -> dict[str, float]:
    async with fresh_database(server, "phases") as (url, _):
        programme, engine = Programme(), create_engine(asyncpg_url(url))
        uow = units_of_work(session_factory(engine), programme, "points")
        handler = TimedHandler(uow, programme, TopicNames())
        collections = sum(s["collections"] for s in gc.get_stats())
        wall, cpu = time.perf_counter(), time.process_time()
        published = 0
        for start in range(0, len(items), batch):
            published += (await handler.apply(items[start : start + batch])).published
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await engine.dispose()
    phases = dict(handler.phases)
    return {"wall": wall, "cpu": cpu, **phases, "rest": wall - sum(phases.values()),
            "events": published,
            "collections": sum(s["collections"] for s in gc.get_stats()) - collections}  # fmt: skip


def lines(label: str, n: int, r: dict[str, float]) -> list[str]:
    phases = "  ".join(f"{k} {r[k]:.2f}" for k in ("load", "apply", "save", "rest"))
    return [
        f"  {label:<22} {n / r['wall']:>8,.0f} purchases/s  {r['wall']:.2f} s (CPU {r['cpu']:.2f})"
        f"  {phases}",
        f"  {'':<22} {r['events'] / n:.2f} events per purchase,"
        f" {int(r['collections']):,} collections",
    ]


async def run_all(args: argparse.Namespace, server: str) -> None:
    items = the_log(args.purchases, args.members, TopicNames())
    default = await one_run(server, items, args.batch)
    tune_collector()
    tuned = await one_run(server, items, args.batch)
    print(f"points handler in process: {args.purchases:,} purchases by {args.members:,} members,"
          f" batch {args.batch}, {PARTITIONS} partitions")  # fmt: skip
    for line in lines("collector as started", args.purchases, default):
        print(line)
    for line in lines("collector tuned", args.purchases, tuned):
        print(line)
    print(f"  tuned / as started: {default['wall'] / tuned['wall']:.2f}x")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--purchases", type=int, default=20_000)
    ap.add_argument("--members", type=int, default=3_333)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args(argv)
    on_database_server(lambda server: run_all(args, server))


if __name__ == "__main__":
    sys.exit(main())
