"""Rewards benchmark: redemptions per second, with the balance check and the debit
against the real points ledger, and their latency, against a trivial FastAPI endpoint.

Not a test: it prints figures and never asserts. One run on the embedded stack (or
the PostgreSQL server named by DATABASE_URL / TEST_DATABASE_URL): the points and
rewards services run as child processes (`python -m ...`, as production does); M
members get points through the `purchases` topic; then C concurrent clients redeem a
1-point reward N times in all (each request its own Idempotency-Key), and the same
clients call GET /ping on bench/trivial_app.py.

    .venv/bin/python bench/rewards_throughput.py [--redemptions 3000 --concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
from embedded import (
    child,
    member_headers,
    ops_header,
    run_on_embedded_stack,
    timed_requests,
    trivial_app_args,
    wait_ready,
)
from points_throughput import Stack, _load, fresh_run, make_purchases, producer, say, send_all

from loyalty_cli.stack import free_port
from loyalty_platform.migrations import upgrade
from loyalty_rewards.migrations import MIGRATIONS_DIR as REWARDS_MIGRATIONS


async def run_all(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    results: dict[str, Any] = {"load_before": _load()}
    async with fresh_run(stack, "rw") as run:  # migrated for points
        await asyncio.to_thread(upgrade, REWARDS_MIGRATIONS, run.url)
        secrets = run.credentials.service_environment()
        purchases = make_purchases(args.members, args.members, tag="rw", seed=9)
        async with producer(stack) as p:
            await send_all(p, run.kafka.topics.purchases, purchases)
        points_port, rewards_port, trivial_port = free_port(), free_port(), free_port()
        common = {"KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
                  "KAFKA_TOPIC_PREFIX": run.kafka.topic_prefix}  # fmt: skip
        points_env = common | secrets | {"POINTS_DATABASE_URL": run.url, "POINTS_PORT": str(points_port),
                               "POINTS_CONSUMER_GROUP": f"bench-points-{run.tag}"}  # fmt: skip
        rewards_env = common | secrets | {"REWARDS_DATABASE_URL": run.url, "REWARDS_PORT": str(rewards_port),
                                "REWARDS_POINTS_URL": f"http://127.0.0.1:{points_port}",
                                "REWARDS_TIERS_URL": "",
                                # The abuse limit (10 attempts a member a minute) would answer
                                # 429 once members come round more than that: measure the saga.
                                "REWARDS_REDEMPTIONS_PER_MEMBER": "1000000"}  # fmt: skip
        trivial = trivial_app_args(trivial_port)
        async with (
            child(["-m", "loyalty_points"], points_env, stack.service_log),
            child(["-m", "loyalty_rewards"], rewards_env, stack.service_log),
            child(trivial, {}, stack.service_log),
        ):
            say("waiting for the services and the members' points")
            await wait_ready(f"http://127.0.0.1:{rewards_port}/readyz", timeout=90)
            await wait_ready(f"http://127.0.0.1:{trivial_port}/ping")
            applied_sql = "select count(*) from points.ledger_entries"
            deadline = time.monotonic() + 120
            while await run.conn.fetchval(applied_sql) < args.members:
                if time.monotonic() > deadline:
                    raise RuntimeError("the points service did not apply the purchases")
                await asyncio.sleep(0.2)
            base = f"http://127.0.0.1:{rewards_port}"
            async with httpx.AsyncClient(base_url=base, headers=ops_header(run)) as admin:
                made = await admin.post("/v1/admin/rewards", json={
                    "reward_id": "bench", "name": "bench", "kind": "coupon", "points_cost": 1})  # fmt: skip
                if made.status_code != 201:
                    raise RuntimeError(f"could not create the reward: {made.text}")
            members = sorted({p.member_id for p in purchases})
            apps = member_headers(run, members)  # each member redeems from their own app
            redemptions = [
                ("POST", f"/v1/members/{m}/redemptions", {"reward_id": "bench"},
                 {"Idempotency-Key": f"bench-{n}", **apps[m]})
                for n, m in ((n, members[n % len(members)]) for n in range(args.redemptions))
            ]  # fmt: skip
            say(f"{args.redemptions:,} redemptions by {args.concurrency} clients")
            results["redeem"] = await timed_requests(base, redemptions, args.concurrency)
            pings = [("GET", "/ping", None, {})] * args.redemptions
            results["trivial"] = await timed_requests(
                f"http://127.0.0.1:{trivial_port}", pings, args.concurrency
            )
            results["debits"] = await run.conn.fetchval("select count(*) from points.debits")
    results["load_after"] = _load()
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:,.1f}"

    redeem, trivial = r["redeem"], r["trivial"]
    lines = [
        f"rewards benchmark: {args.redemptions:,} redemptions of a 1-point reward by "
        f"{args.members:,} members, {args.concurrency} concurrent clients",
        f"  1-minute load average before/after: {r['load_before']:.2f} / {r['load_after']:.2f}",
        f"  {'':42}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}  statuses",
    ]
    for label, x in (
        ("POST .../redemptions (ms)", redeem),
        ("trivial FastAPI GET /ping (ms)", trivial),
    ):
        lines.append(f"  {label:42}{x['rate']:>9,.0f}{ms(x['p50']):>8}{ms(x['p95']):>8}"
                     f"{ms(x['p99']):>8}{ms(x['max']):>8}  {x['statuses']}")  # fmt: skip
    lines.append(
        f"  redeem / trivial: throughput {redeem['rate'] / trivial['rate']:.3f}x, "
        f"p50 {redeem['p50'] / trivial['p50']:.1f}x, p99 {redeem['p99'] / trivial['p99']:.1f}x; "
        f"{r['debits']:,} debits in the points ledger"
    )
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--redemptions", type=int, default=3_000)
    ap.add_argument("--members", type=int, default=3_000)
    ap.add_argument("--concurrency", type=int, default=20)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run_on_embedded_stack(
        lambda stack: run_all(args, stack), partitions=6, batch_size=1000
    )
    report(results, args)


if __name__ == "__main__":
    main()
