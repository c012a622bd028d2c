"""A consuming service (points, tiers or the churn watch) SIGKILLed every few seconds
while it works through a replay.

The same purchases go onto two fresh sets of topics, each with a fresh database. One
service runs through the first undisturbed; on the second, a service is started,
killed with SIGKILL 1-3 s after it began to apply, started again, and so on until it has applied the whole
log, then once more to the end. The two must agree: for points every member's balance
and one entry per purchase, for tiers every member's tier, since and hold and one change
per (member, sequence), for the churn watch every member's due assessment and open alert
(severity, revision, value at risk) and one alert per (member, opening); and every event
written published once (the outbox relay is killed along with the rest). Figures: events, kills, members that differ, rows
counted twice, events published twice or missing, and how long a restarted service
takes to apply again (process start, group join, the first batch).

    .venv/bin/python bench/crash_soak.py                  # points, 20,000 purchases
    .venv/bin/python bench/crash_soak.py --service tiers --purchases 50000 --seed 3
    .venv/bin/python bench/crash_soak.py --service churn
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from embedded import child, consumer_env, run_on_embedded_stack
from points_throughput import Run, Stack, fresh_run, make_purchases, producer, send_all

from loyalty_churn.migrations import MIGRATIONS_DIR as CHURN_MIGRATIONS
from loyalty_cli.stack import free_port
from loyalty_points.migrations import MIGRATIONS_DIR as POINTS_MIGRATIONS
from loyalty_tiers.migrations import MIGRATIONS_DIR as TIERS_MIGRATIONS


@dataclass(frozen=True)
class Target:
    """A consuming service as the soak runs and judges it."""

    module: str
    prefix: str  # of its settings
    migrations: Path
    schema: str
    state: str  # one row a member: the member id, then what must agree
    rows: str  # the rows it writes: how many, and how many beyond one per identity
    events: str  # the topic they are published on (a TopicNames field)
    written_events: str  # how many events those rows stand for


TARGETS = {
    "points": Target(
        "loyalty_points", "POINTS", POINTS_MIGRATIONS, "points",
        "select member_id, balance from points.balances",
        "select count(*), count(*) - count(distinct (kind, reference)) from points.ledger_entries",
        "points_events",
        "select count(*) from points.ledger_entries",
    ),
    "tiers": Target(
        "loyalty_tiers", "TIERS", TIERS_MIGRATIONS, "tiers",
        "select member_id, tier, since, drops_at from tiers.members",
        "select count(*), count(*) - count(distinct (member_id, sequence)) from tiers.tier_changes",
        "tiers_events",
        "select count(*) from tiers.tier_changes",
    ),
    # Each revision of an alert (opened, escalated, de-escalated, resolved) is one event.
    "churn": Target(
        "loyalty_churn", "CHURN", CHURN_MIGRATIONS, "churn",
        "select m.member_id, m.due_at, a.severity, a.revision, a.value_at_risk"
        " from churn.members m left join churn.alerts a"
        " on a.member_id = m.member_id and a.resolved_at is null",
        "select count(*), count(*) - count(distinct (member_id, opened_at)) from churn.alerts",
        "churn_alerts",
        "select count(*) from churn.alert_revisions",
    ),
}  # fmt: skip


async def applied(target: Target, run: Run) -> int:
    found = await run.conn.fetchval(
        f"select sum(next_offset) from {target.schema}.consumer_progress"
    )
    return int(found or 0)


@dataclass(frozen=True)
class Written:
    state: dict[str, tuple[Any, ...]]  # each member's
    rows: int
    rows_twice: int  # beyond one per identity
    events: int  # that the rows stand for


async def written(target: Target, run: Run) -> Written:
    state = {r[0]: tuple(r[1:]) for r in await run.conn.fetch(target.state)}
    counts = await run.conn.fetchrow(target.rows)
    events = await run.conn.fetchval(target.written_events)
    return Written(state, int(counts[0]), int(counts[1]), int(events))


def service(target: Target, stack: Stack, run: Run) -> Any:
    env = consumer_env(target.prefix, run, stack, free_port())
    return child(["-m", target.module], env, stack.service_log)


async def until_applied(target: Target, run: Run, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (done := await applied(target, run)) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{done} of {n} applied after {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def published(topic: str, stack: Stack, entries: int) -> Counter[str]:
    """How often each event id reached `topic`: read from the start until at least
    `entries` came and then nothing more for two seconds (or a minute passed)."""
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
    target = TARGETS[args.service]
    rng = random.Random(args.seed)
    # In event-time order, as tills post them (the tier service runs on event time).
    made = make_purchases(args.purchases, args.members, tag="k", seed=args.seed)
    purchases = sorted(made, key=lambda p: p.at)
    n = len(purchases)
    async with (
        fresh_run(stack, "clean", target.migrations) as clean,
        fresh_run(stack, "killed", target.migrations) as killed,
    ):
        async with producer(stack) as p:
            await send_all(p, clean.kafka.topics.purchases, purchases)
            await send_all(p, killed.kafka.topics.purchases, purchases)
        async with service(target, stack, clean):
            await until_applied(target, clean, n, 300)
        kills, resumed = 0, []
        while (before := await applied(target, killed)) < n:
            started = time.monotonic()
            async with service(target, stack, killed) as proc:
                # Killed 0.5-2 s into its work, not into its start-up and group join.
                await until_applied(target, killed, before + 1, 120)
                resumed.append(time.monotonic() - started)
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                if await applied(target, killed) < n:
                    proc.kill()
                    await proc.wait()
                    kills += 1
        async with service(target, stack, killed):
            await until_applied(target, killed, n, 300)
            want = await written(target, clean)
            got = await written(target, killed)
            topic = getattr(killed.kafka.topics, target.events)
            events = await published(topic, stack, got.events)
    members = set(want.state) | set(got.state)
    differ = sum(1 for m in members if want.state.get(m) != got.state.get(m))
    return {
        "service": args.service,
        "purchases": n,
        "kills": kills,
        "members": len(want.state),
        "members_differing": differ,
        "rows": got.rows,
        "rows_clean": want.rows,
        "rows_twice": got.rows_twice + want.rows_twice,
        "events_written": got.events,
        "events_published": sum(events.values()),
        "events_twice": sum(c - 1 for c in events.values() if c > 1),
        "events_missing": max(0, got.events - len(events)),
        "restart_to_applying_mean_s": round(sum(resumed) / max(len(resumed), 1), 1),
        "restart_to_applying_max_s": round(max(resumed, default=0.0), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--service", choices=sorted(TARGETS), default="points")
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
