"""What the tier and rewards benchmarks share: running on a fresh embedded stack,
services as child processes, and timing HTTP requests from concurrent clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from points_throughput import CpuMeter, Stack, percentiles, start_database

from loyalty_cli.stack import EmbeddedBroker
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens

# (method, path, JSON body or None, headers)
Request = tuple[str, str, dict[str, Any] | None, dict[str, str]]


def run_on_embedded_stack(
    run_all: Callable[[Stack], Awaitable[dict[str, Any]]], *, partitions: int, batch_size: int
) -> dict[str, Any]:
    """Start PostgreSQL (or use the configured server) and a broker, run, clean up; on a
    failure, show the tail of the services' log."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="lpx"))  # short: the PostgreSQL socket lives under it
    try:
        with ExitStack() as stack:
            server_url = start_database(stack, root)
            broker = EmbeddedBroker(log_path=root / "broker.log")
            broker.start()
            stack.callback(broker.stop)
            log = stack.enter_context(open(root / "service.log", "ab"))
            s = Stack(server_url, broker.bootstrap_servers, partitions, batch_size, log)
            return asyncio.run(run_all(s))
    except Exception:
        tail = (root / "service.log").read_text(errors="replace").splitlines()[-40:]
        print("--- service log (tail) ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def child(args: list[str], env: dict[str, str], log: Any) -> AsyncIterator[Any]:
    """`python *args` with `env` added, stopped with SIGTERM (then SIGKILL) at the end."""
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


def trivial_app_args(port: int) -> list[str]:
    """The latency baseline: bench/trivial_app.py under uvicorn, as the services run."""
    return ["-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "trivial_app:app",
            "--port", str(port), "--log-level", "warning"]  # fmt: skip


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


async def timed_requests(
    base: str, requests: Sequence[Request], concurrency: int
) -> dict[str, Any]:
    """Each of `concurrency` clients sends its share of `requests` one after another:
    the rate, latency percentiles and the count of each status."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def client_loop(mine: Sequence[Request]) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for method, path, body, headers in mine:
                t0 = time.perf_counter()
                response = await client.request(method, path, json=body, headers=headers)
                latencies.append(time.perf_counter() - t0)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop(requests[i::concurrency]) for i in range(concurrency)))
    seconds = time.perf_counter() - t0
    return {"requests": len(requests), "rate": len(requests) / seconds, "statuses": statuses,
            **percentiles(latencies)}  # fmt: skip


async def follow_applied(
    conn: Any, proc: Any, n: int, applied_sql: str, name: str, slowest_per_second: float
) -> dict[str, Any]:
    """Follow a consuming child until `applied_sql` counts `n` applied messages: its rate
    from the first one applied, whether it finished in time, its CPU share."""
    meter = CpuMeter(proc.pid)
    first = None
    deadline = time.monotonic() + 120 + n / slowest_per_second
    applied = 0
    while applied < n and time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"the {name} exited; see its log")
        applied = await conn.fetchval(applied_sql)
        if applied and first is None:
            first = time.perf_counter()
            meter.mark()
        await asyncio.sleep(0.05)
    end = time.perf_counter()
    if first is None:
        raise RuntimeError(f"the {name} applied nothing; see its log")
    return {"rate": applied / (end - first), "complete": applied >= n, "cpu": meter.share()}


def consumer_env(prefix: str, run: Any, stack: Stack, port: int) -> dict[str, str]:
    """The environment of a consuming service child on the run's database and topics,
    its own consumer group, on event time."""
    return {
        f"{prefix}_DATABASE_URL": run.url,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "KAFKA_TOPIC_PREFIX": run.kafka.topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(stack.partitions),
        f"{prefix}_PORT": str(port),
        f"{prefix}_BATCH_SIZE": str(stack.batch_size),
        f"{prefix}_CONSUMER_GROUP": f"bench-{prefix.lower()}-{run.tag}",
        f"{prefix}_CLOCK": "event",
        **run.credentials.service_environment(),
    }


def ops_header(run: Any) -> dict[str, str]:
    """The run's development ops key, with every scope."""
    return {"X-API-Key": run.credentials.ops_key}


def member_headers(run: Any, members: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each member's app token, as the identity service would sign it at login."""
    tokens = MemberTokens(AccessSettings(LOYALTY_TOKEN_SECRET=run.credentials.token_secret))
    return {m: {"Authorization": f"Bearer {tokens.issue(m)}"} for m in members}
