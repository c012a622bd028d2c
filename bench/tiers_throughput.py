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
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from points_throughput import (
    CpuMeter,
    Stack,
    _load,
    fresh_run,
    make_purchases,
    percentiles,
    producer,
    raw_consume,
    say,
    send_all,
    start_database,
)

from loyalty_cli.stack import EmbeddedBroker, free_port
from loyalty_tiers.migrations import MIGRATIONS_DIR

APPLIED_SQL = "select coalesce(sum(next_offset), 0)::bigint from tiers.consumer_progress"


@asynccontextmanager
async def child(args: list[str], env: dict[str, str], log: Any) -> AsyncIterator[Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env={**os.environ, **env},
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never answered 200")


async def hammer(base: str, paths: Sequence[str], concurrency: int) -> dict[str, Any]:
    """Each of `concurrency` clients requests its share of `paths` one after another."""
    latencies: list[float] = []
    failures = 0

    async def client_loop(mine: Sequence[str]) -> None:
        nonlocal failures
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for path in mine:
                t0 = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - t0)
                failures += response.status_code != 200

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(paths[i::concurrency]) for i in range(concurrency)))
    seconds = time.perf_counter() - t0
    return {"requests": len(paths), "rate": len(paths) / seconds, "failures": failures,
            **percentiles(latencies)}  # fmt: skip


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
        env = {
            "TIERS_DATABASE_URL": run.url,
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
            "KAFKA_TOPIC_PREFIX": run.kafka.topic_prefix,
            "KAFKA_TOPIC_PARTITIONS": str(stack.partitions),
            "TIERS_PORT": str(port),
            "TIERS_BATCH_SIZE": str(stack.batch_size),
            "TIERS_CONSUMER_GROUP": f"bench-tiers-{run.tag}",
            "TIERS_CLOCK": "event",
        }
        say("S: the tier service")
        async with child(["-m", "loyalty_tiers"], env, stack.service_log) as proc:
            meter = CpuMeter(proc.pid)
            first = end = None
            deadline = time.monotonic() + 120 + n / 200
            applied = 0
            while applied < n and time.monotonic() < deadline:
                if proc.returncode is not None:
                    raise RuntimeError("the tier service exited; see its log")
                applied = await run.conn.fetchval(APPLIED_SQL)
                if applied and first is None:
                    first = time.perf_counter()
                    meter.mark()
                await asyncio.sleep(0.05)
            end = time.perf_counter()
            if first is None:
                raise RuntimeError("the tier service applied nothing; see its log")
            results["tiers_rate"] = applied / (end - first)
            results["tiers_complete"] = applied >= n
            results["tiers_cpu"] = meter.share()
            results["changes"] = await run.conn.fetchval("select count(*) from tiers.tier_changes")
            results["by_tier"] = dict(await run.conn.fetch(
                "select tier, count(*) from tiers.members group by tier order by 2 desc"))  # fmt: skip

            say("L: GET /v1/members/{id}/tier against a trivial endpoint")
            trivial_port = free_port()
            trivial = ["-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "trivial_app:app",
                       "--port", str(trivial_port), "--log-level", "warning"]  # fmt: skip
            async with child(trivial, {}, stack.service_log):
                await wait_ready(f"http://127.0.0.1:{trivial_port}/ping")
                rng = random.Random(5)
                paths = [f"/v1/members/{rng.choice(members)}/tier" for _ in range(args.requests)]
                await hammer(f"http://127.0.0.1:{port}", paths[:200], args.concurrency)  # warm
                results["tier_api"] = await hammer(
                    f"http://127.0.0.1:{port}", paths, args.concurrency
                )
                results["trivial_api"] = await hammer(
                    f"http://127.0.0.1:{trivial_port}", ["/ping"] * args.requests, args.concurrency
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
        f"  {'':46}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'failed':>8}",
    ]
    for label, x in (("GET /v1/members/{id}/tier", api), ("trivial FastAPI GET /ping", trivial)):
        lines.append(f"  {label:46}{x['rate']:>9,.0f}{ms(x['p50']):>8}{ms(x['p95']):>8}"
                     f"{ms(x['p99']):>8}{ms(x['max']):>8}{x['failures']:>8}")  # fmt: skip
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
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="lpt"))
    try:
        with ExitStack() as stack:
            server_url = start_database(stack, root)
            broker = EmbeddedBroker(log_path=root / "broker.log")
            broker.start()
            stack.callback(broker.stop)
            log = stack.enter_context(open(root / "service.log", "ab"))
            s = Stack(server_url, broker.bootstrap_servers, args.partitions, args.batch_size, log)
            results = asyncio.run(run_all(args, s))
    except Exception:
        tail = (root / "service.log").read_text(errors="replace").splitlines()[-40:]
        print("--- service log (tail) ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(results, args)


if __name__ == "__main__":
    main()
