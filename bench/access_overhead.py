"""What access control costs a read: GET /v1/members/{id}/balance on the points service
with each kind of credential, against the same service's unauthenticated /healthz.

Not a test: it prints figures and never asserts. One run, on the embedded stack:

  H  GET /healthz: no credentials, no database (the baseline);
  M  GET .../balance with the member's own token (a JWT verified per request);
  K  GET .../balance with an ops key, verified once and then trusted from the cache
     for ACCESS_KEY_CACHE_SECONDS (the default, 5 s);
  D  GET .../balance with an ops key and no cache (ACCESS_KEY_CACHE_SECONDS=0, a second
     points process): one key lookup in PostgreSQL per request.

    .venv/bin/python bench/access_overhead.py [--requests 3000 --concurrency 20]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from typing import Any

from embedded import (
    child,
    consumer_env,
    member_headers,
    ops_header,
    run_on_embedded_stack,
    timed_requests,
    wait_ready,
)
from points_throughput import Stack, _load, fresh_run, make_purchases, producer, say, send_all

from loyalty_cli.stack import free_port


async def run_all(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    results: dict[str, Any] = {"load_before": _load()}
    async with fresh_run(stack, "acc") as run:
        purchases = make_purchases(args.members, args.members, tag="acc", seed=11)
        async with producer(stack) as p:
            await send_all(p, run.kafka.topics.purchases, purchases)
        cached, uncached = free_port(), free_port()
        env = consumer_env("POINTS", run, stack, cached)
        no_cache = env | {"POINTS_PORT": str(uncached), "ACCESS_KEY_CACHE_SECONDS": "0",
                          "POINTS_CONSUMER_GROUP": f"bench-nocache-{run.tag}"}  # fmt: skip
        async with (
            child(["-m", "loyalty_points"], env, stack.service_log),
            child(["-m", "loyalty_points"], no_cache, stack.service_log),
        ):
            say("waiting for both points processes")
            for port in (cached, uncached):
                await wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=90)
            rng = random.Random(13)
            members = sorted({p.member_id for p in purchases})
            asked = [rng.choice(members) for _ in range(args.requests)]
            apps = member_headers(run, set(asked))
            ops = ops_header(run)

            def balances(headers: Any) -> list[Any]:
                return [("GET", f"/v1/members/{m}/balance", None, headers(m)) for m in asked]

            plans = {
                "H": (cached, [("GET", "/healthz", None, {})] * args.requests),
                "M": (cached, balances(lambda m: apps[m])),
                "K": (cached, balances(lambda m: ops)),
                "D": (uncached, balances(lambda m: ops)),
            }
            for label, (port, requests) in plans.items():
                base = f"http://127.0.0.1:{port}"
                await timed_requests(base, requests[:200], args.concurrency)  # warm up
                say(f"{label}: {len(requests):,} requests by {args.concurrency} clients")
                results[label] = await timed_requests(base, requests, args.concurrency)
    results["load_after"] = _load()
    return results


def report(r: dict[str, Any], args: argparse.Namespace) -> None:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:,.1f}"

    names = {
        "H": "H  GET /healthz, no credentials (baseline)",
        "M": "M  GET balance, member token (JWT)",
        "K": "K  GET balance, ops key (cached)",
        "D": "D  GET balance, ops key (no cache)",
    }
    base = r["H"]
    lines = [
        f"access overhead: {args.requests:,} requests per line, {args.concurrency} clients, "
        f"{args.members:,} members",
        f"  1-minute load average before/after: {r['load_before']:.2f} / {r['load_after']:.2f}",
        f"  {'':44}{'req/s':>8}{'ratio':>7}{'p50':>8}{'p99':>8}  statuses",
    ]
    for key, label in names.items():
        x = r[key]
        lines.append(f"  {label:44}{x['rate']:>8,.0f}{x['rate'] / base['rate']:>7.2f}"
                     f"{ms(x['p50']):>8}{ms(x['p99']):>8}  {x['statuses']}")  # fmt: skip
    print("\n".join(lines), flush=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--requests", type=int, default=3_000)
    ap.add_argument("--members", type=int, default=2_000)
    ap.add_argument("--concurrency", type=int, default=20)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    results = run_on_embedded_stack(lambda s: run_all(args, s), partitions=6, batch_size=1000)
    report(results, args)


if __name__ == "__main__":
    main()
