"""Tier service benchmark: tier evaluation against the raw consume rate, and the
latency of GET /v1/members/{id}/tier against a trivial FastAPI endpoint.

Not a test: it prints figures and never asserts. One run, on the embedded stack
(or the PostgreSQL server named by DATABASE_URL / TEST_DATABASE_URL):

  A  aiokafka alone consumes the N purchases as the service does;
  S  the tier service (a child process, event-time clock) applies the N purchases:
     standings, tier changes, tier.changed events through the outbox;
  L  then, with every member's standing in the database, `concurrency` clients
     call GET /v1/members/{id}/tier on random members, and the same clients call
     a trivial FastAPI endpoint (bench/trivial_app.py, also uvicorn in a child).

    .venv/bin/python bench/tiers_throughput.py [--purchases 1000000 --members 100000]
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from typing import Any

from embedded import (
    child,
    consumer_env,
    follow_applied,
    member_headers,
    run_on_embedded_stack,
    timed_requests,
    trivial_app_args,
    wait_ready,
)
from points_throughput import (
    Stack,
    _load,
    fresh_run,
    make_purchases,
    producer,
    raw_consume,
    say,
    send_all,
)

from loyalty_cli.stack import free_port
from loyalty_tiers.migrations import MIGRATIONS_DIR

APPLIED_SQL = "select coalesce(sum(next_offset), 0)::bigint from tiers.consumer_progress"


async def run_all(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = args.purchases
    say(f"generating {n:,} purchases by {args.members:,} members")
    # In event-time order, as tills post them: each member's clock moves on its own in
    # the generator, and a log sorted by member clocks alone would run far ahead.
    purchases = sorted(make_purchases(n, args.members, tag="t", seed=3), key=lambda p: p.at)
    members = sorted({p.member_id for p in purchases})
    results: dict[str, Any] = {"load_before": _load()}
    async with fresh_run(stack, "tiers", MIGRATIONS_DIR) as run:
        async with producer(stack) as p:
            say("sending them to the topic")
            results["produce_rate"] = n / await send_all(p, run.kafka.topics.purchases, purchases)
        say("A: raw aiokafka consume")
        results["aiokafka_rate"] = n / await raw_consume(
            stack, run.kafka.topics.purchases, n, f"bench-raw-{run.tag}"
        )
        port = free_port()
        env = consumer_env("TIERS", run, stack, port)
        say("S: the tier service")
        async with child(["-m", "loyalty_tiers"], env, stack.service_log) as proc:
            followed = await follow_applied(run.conn, proc, n, APPLIED_SQL, "tier service", 200)
            results["tiers_rate"] = followed["rate"]
            results["tiers_complete"] = followed["complete"]
            results["tiers_cpu"] = followed["cpu"]
            results["changes"] = await run.conn.fetchval("select count(*) from tiers.tier_changes")
            results["by_tier"] = dict(await run.conn.fetch(
                "select tier, count(*) from tiers.members group by tier order by 2 desc"))  # fmt: skip

            say("L: GET /v1/members/{id}/tier against a trivial endpoint")
            trivial_port = free_port()
            trivial = trivial_app_args(trivial_port)
            async with child(trivial, {}, stack.service_log):
                await wait_ready(f"http://127.0.0.1:{trivial_port}/ping")
                rng = random.Random(5)
                asked = [rng.choice(members) for _ in range(args.requests)]
                apps = member_headers(run, set(asked))  # each member's own app asks
                gets = [("GET", f"/v1/members/{m}/tier", None, apps[m]) for m in asked]
                await timed_requests(f"http://127.0.0.1:{port}", gets[:200], args.concurrency)
                results["tier_api"] = await timed_requests(
                    f"http://127.0.0.1:{port}", gets, args.concurrency
                )
                results["trivial_api"] = await timed_requests(
                    f"http://127.0.0.1:{trivial_port}",
                    [("GET", "/ping", None, {})] * args.requests,
                    args.concurrency,
                )
    results["load_after"] = _load()
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:,.1f}"

    api, trivial = r["tier_api"], r["trivial_api"]
    cpu = "n/a" if r["tiers_cpu"] is None else f"{r['tiers_cpu']:.0%}"
    lines = [
        f"tier service benchmark: {args.purchases:,} purchases, {args.members:,} members, "
        f"batch {args.batch_size:,}, {args.partitions} partitions, {os.cpu_count()} CPUs",
        f"  1-minute load average before/after: {r['load_before']:.2f} / {r['load_after']:.2f}",
        f"  {'':46}{'events/s':>12}{'ratio':>10}",
        f"  {'A  aiokafka group consume, commit per batch':46}{r['aiokafka_rate']:>12,.0f}{1:>10.3f}",
        f"  {'S  tier service: standings, changes, outbox':46}{r['tiers_rate']:>12,.0f}"
        f"{r['tiers_rate'] / r['aiokafka_rate']:>10.3f}",
        f"  {'   bench producer (reference)':46}{r['produce_rate']:>12,.0f}",
        f"  S {'finished' if r['tiers_complete'] else 'DID NOT FINISH'}; {r['changes']:,} tier "
        f"changes; members by tier {r['by_tier']}; service CPU "
        f"{cpu} of one core",
        f"latency, {args.requests:,} requests by {args.concurrency} concurrent clients (ms)",
        f"  {'':46}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  statuses",
    ]
    for label, x in (("GET /v1/members/{id}/tier", api), ("trivial FastAPI GET /ping", trivial)):
        lines.append(f"  {label:46}{x['rate']:>9,.0f}{ms(x['p50']):>8}{ms(x['p95']):>8}"
                     f"{ms(x['p99']):>8}{ms(x['max']):>8}  {x['statuses']}")  # fmt: skip
    lines.append(
        f"  tier / trivial: p50 {api['p50'] / trivial['p50']:.2f}x, p99 "
        f"{api['p99'] / trivial['p99']:.2f}x, throughput {api['rate'] / trivial['rate']:.2f}x"
    )
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--purchases", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--requests", type=int, default=5_000, help="per endpoint in the latency run")
    ap.add_argument("--concurrency", type=int, default=20)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run_on_embedded_stack(
        lambda stack: run_all(args, stack), partitions=args.partitions, batch_size=args.batch_size
    )
    report(results, args)


if __name__ == "__main__":
    main()
