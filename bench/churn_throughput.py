"""Churn watch benchmark: consumption against the raw consume rate, and scoring every
member as of a date against a plain SQL scan of the same rows.

Not a test: it prints figures and never asserts. One run, on the embedded stack
(or the PostgreSQL server named by DATABASE_URL / TEST_DATABASE_URL):

  A  aiokafka alone consumes the N purchases as the service does;
  S  the churn watch (a child process, event-time clock) applies the N purchases:
     facts, assessments at each purchase and each due moment, alerts via the outbox;
  F  POST /v1/churn/model fits the risk model on every member's history;
  R  GET /v1/risk?as_of=...&format=csv scores and ranks every member;
  Q  a plain SQL scan reads the same purchase rows (the floor for R).

    .venv/bin/python bench/churn_throughput.py [--purchases 1000000 --members 100000]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx
from embedded import (
    child,
    consumer_env,
    follow_applied,
    ops_header,
    run_on_embedded_stack,
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

from loyalty_churn.migrations import MIGRATIONS_DIR
from loyalty_cli.stack import free_port

APPLIED_SQL = """select coalesce(sum(next_offset), 0)::bigint from churn.consumer_progress
                 where topic like '%purchases'"""
SCAN_SQL = "select member_id, purchase_id, occurred_at, amount from churn.purchases"


async def run_all(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = args.purchases
    say(f"generating {n:,} purchases by {args.members:,} members")
    purchases = sorted(make_purchases(n, args.members, tag="c", seed=4), key=lambda p: p.at)
    as_of = purchases[-1].at
    results: dict[str, Any] = {"load_before": _load()}
    async with fresh_run(stack, "churn", MIGRATIONS_DIR) as run:
        async with producer(stack) as p:
            say("sending them to the topic")
            results["produce_rate"] = n / await send_all(p, run.kafka.topics.purchases, purchases)
        say("A: raw aiokafka consume")
        results["aiokafka_rate"] = n / await raw_consume(
            stack, run.kafka.topics.purchases, n, f"bench-raw-{run.tag}"
        )
        port = free_port()
        env = consumer_env("CHURN", run, stack, port)
        say("S: the churn watch")
        async with child(["-m", "loyalty_churn"], env, stack.service_log) as proc:
            followed = await follow_applied(run.conn, proc, n, APPLIED_SQL, "churn watch", 100)
            results["churn_rate"] = followed["rate"]
            results["churn_complete"] = followed["complete"]
            results["churn_cpu"] = followed["cpu"]
            results["alerts"] = dict(await run.conn.fetch(
                "select severity, count(*) from churn.alerts group by 1 order by 2 desc"))  # fmt: skip

            base = f"http://127.0.0.1:{port}"
            await wait_ready(f"{base}/healthz")
            stamp = as_of.isoformat().replace("+00:00", "Z")
            async with httpx.AsyncClient(
                base_url=base, timeout=600, headers=ops_header(run)
            ) as client:
                say("F: fit the risk model")
                started = time.perf_counter()
                fitted = await client.post("/v1/churn/model", params={"as_of": stamp})
                results["fit_seconds"] = time.perf_counter() - started
                results["fit_status"] = fitted.status_code
                say("R: score and rank every member")
                started = time.perf_counter()
                ranked = await client.get("/v1/risk", params={"as_of": stamp, "format": "csv"})
                results["score_seconds"] = time.perf_counter() - started
                results["scored"] = ranked.text.count("\n") - 1
                results["score_status"] = ranked.status_code
            say("Q: a plain SQL scan of the same rows")
            started = time.perf_counter()
            rows = await run.conn.fetch(SCAN_SQL)
            results["scan_seconds"] = time.perf_counter() - started
            results["scan_rows"] = len(rows)
    results["load_after"] = _load()
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    cpu = "n/a" if r["churn_cpu"] is None else f"{r['churn_cpu']:.0%}"
    lines = [
        f"churn watch benchmark: {args.purchases:,} purchases, {args.members:,} members, "
        f"batch {args.batch_size:,}, {args.partitions} partitions, {os.cpu_count()} CPUs",
        f"  1-minute load average before/after: {r['load_before']:.2f} / {r['load_after']:.2f}",
        f"  {'':50}{'events/s':>12}{'ratio':>10}",
        f"  {'A  aiokafka group consume, commit per batch':50}{r['aiokafka_rate']:>12,.0f}{1:>10.3f}",
        f"  {'S  churn watch: facts, assessments, alerts':50}{r['churn_rate']:>12,.0f}"
        f"{r['churn_rate'] / r['aiokafka_rate']:>10.4f}",
        f"  {'   bench producer (reference)':50}{r['produce_rate']:>12,.0f}",
        f"  S {'finished' if r['churn_complete'] else 'DID NOT FINISH'}; alerts by severity "
        f"{r['alerts']}; service CPU {cpu} of one core",
        f"scoring as of the last event ({r['scored']:,} members ranked, HTTP {r['score_status']})",
        f"  {'':50}{'seconds':>12}{'ratio':>10}",
        f"  {'Q  plain SQL scan of the purchase rows':50}{r['scan_seconds']:>12.2f}{1:>10.1f}",
        f"  {'R  GET /v1/risk?format=csv, every member':50}{r['score_seconds']:>12.2f}"
        f"{r['score_seconds'] / r['scan_seconds']:>10.1f}",
        f"  {'F  POST /v1/churn/model (fit, HTTP ' + str(r['fit_status']) + ')':50}"
        f"{r['fit_seconds']:>12.2f}{r['fit_seconds'] / r['scan_seconds']:>10.1f}",
    ]
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--purchases", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--batch-size", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=6)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run_on_embedded_stack(
        lambda stack: run_all(args, stack), partitions=args.partitions, batch_size=args.batch_size
    )
    report(results, args)


if __name__ == "__main__":
    main()
