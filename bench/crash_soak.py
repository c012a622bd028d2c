"""The points service SIGKILLed every few seconds while it works through a replay.

The same purchases go onto two fresh sets of topics, each with a fresh database. One
points service runs through the first undisturbed; on the second, a service is started,
killed with SIGKILL 1-3 s after it began to apply, started again, and so on until it has applied the whole
log, then once more to the end. The two ledgers must agree: every member's balance, one
entry per purchase, and as many `points.events` messages as entries (the outbox relay is
killed along with the rest). Figures: events, kills, members whose balance differs,
entries counted twice, events published twice or missing, and how long a restarted
service takes to apply again (process start, group join, the first batch).

    .venv/bin/python bench/crash_soak.py                  # 20,000 purchases
    .venv/bin/python bench/crash_soak.py --purchases 50000 --seed 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from embedded import run_on_embedded_stack
from points_throughput import (
    Run,
    Stack,
    fresh_run,
    make_purchases,
    points_service,
    producer,
    send_all,
)


async def applied(run: Run) -> int:
    found = await run.conn.fetchval("select sum(next_offset) from points.consumer_progress")
    return int(found or 0)


async def ledger(run: Run) -> tuple[dict[str, int], int, int]:
    """Balances, entries, and entries beyond one per (kind, reference)."""
    balances = dict(await run.conn.fetch("select member_id, balance from points.balances"))
    counts = await run.conn.fetchrow(
        "select count(*), count(*) - count(distinct (kind, reference)) from points.ledger_entries"
    )
    return balances, int(counts[0]), int(counts[1])


async def until_applied(run: Run, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await applied(run) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{await applied(run)} of {n} applied after {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def published(stack: Stack, run: Run, entries: int) -> Counter[str]:
    """How often each event id reached `points.events`: read from the start until at
    least `entries` came and then nothing more for two seconds (or a minute passed)."""
    topic = run.kafka.topics.points_events
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
    await consumer.start()
    ids: Counter[str] = Counter()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        deadline, quiet_since = time.monotonic() + 60, time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for m in (m for messages in batch.values() for m in messages):
                ids[json.loads(m.value)["id"]] += 1
                quiet_since = time.monotonic()
            if ids.total() >= entries and time.monotonic() - quiet_since > 2:
                break
    finally:
        await consumer.stop()
    return ids


async def soak(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    rng = random.Random(args.seed)
    purchases = make_purchases(args.purchases, args.members, tag="k", seed=args.seed)
    n = len(purchases)
    async with fresh_run(stack, "clean") as clean, fresh_run(stack, "killed") as killed:
        async with producer(stack) as p:
            await send_all(p, clean.kafka.topics.purchases, purchases)
            await send_all(p, killed.kafka.topics.purchases, purchases)
        async with points_service(stack, clean):
            await until_applied(clean, n, 300)
        kills, resumed = 0, []
        while (before := await applied(killed)) < n:
            started = time.monotonic()
            async with points_service(stack, killed) as proc:
                # Killed 0.5-2 s into its work, not into its start-up and group join.
                await until_applied(killed, before + 1, 120)
                resumed.append(time.monotonic() - started)
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                if await applied(killed) < n:
                    proc.kill()
                    await proc.wait()
                    kills += 1
        async with points_service(stack, killed):
            await until_applied(killed, n, 300)
            want, entries, twice = await ledger(clean)
            got, killed_entries, killed_twice = await ledger(killed)
            events = await published(stack, killed, killed_entries)
    differ = sum(1 for m in set(want) | set(got) if want.get(m) != got.get(m))
    return {
        "purchases": n,
        "kills": kills,
        "members_differing": differ,
        "entries": killed_entries,
        "entries_clean": entries,
        "entries_twice": killed_twice + twice,
        "events_published": sum(events.values()),
        "events_twice": sum(c - 1 for c in events.values() if c > 1),
        "events_missing": max(0, killed_entries - len(events)),
        "restart_to_applying_mean_s": round(sum(resumed) / len(resumed), 1),
        "restart_to_applying_max_s": round(max(resumed), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--purchases", type=int, default=20_000)
    ap.add_argument("--members", type=int, default=2_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=100)  # small: many batches to die in
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result = run_on_embedded_stack(
        lambda stack: soak(args, stack), partitions=args.partitions, batch_size=args.batch_size
    )
    for name, value in result.items():
        print(f"{name:>20}  {value:,}" if isinstance(value, int) else f"{name:>20}  {value}")


if __name__ == "__main__":
    main()
