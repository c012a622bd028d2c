"""Points lifecycle at scale: a million lots expiring on the clock, and the liability
report over ten million ledger entries, each against a plain SQL scan of the same rows.

Not a test: it prints figures and never asserts. Each part fills a fresh database of
its own (embedded PostgreSQL, or the server `TEST_DATABASE_URL` / `DATABASE_URL`
names) straight in SQL, then times the service's own code on it:

  expiry     N lots, ten per member, vested, warned and due to expire within one day;
             the partitions' clocks just before. `PurchaseHandler.sweep` (what the
             live sweeper calls) moves the clocks past the day: every lot expires, with
             its ledger entry and its event in the outbox, in bounded steps. Baselines
             on the same rows: the scan a database-only expiry would read (remainders
             due, summed per member), and that expiry as one UPDATE (rolled back).
  liability  M entries: each purchase's earned, vested, expiring_soon and expired
             entries over three years, its lot, and the balances. `liability()` (what
             `GET /v1/points/liability` answers with) for the present moment and for a
             year before; baseline: one scan summing every entry.

    .venv/bin/python bench/points_lifecycle.py [--lots 1000000] [--entries 10000000]
        [--only expiry|liability]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from points_throughput import fresh_database, on_database_server

from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.settings import asyncpg_url
from loyalty_points.bootstrap import in_process_handler
from loyalty_points.service_layer.liability import liability

PARTITIONS = 6
T0 = datetime(2024, 1, 1, tzinfo=UTC)
YEARS = 3
LOTS_PER_MEMBER = 10
ENTRIES_PER_PURCHASE = 3.35  # earned, vested, and for most, expiring_soon and expired


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def vacuum(db: asyncpg.Connection, *tables: str) -> None:
    for table in tables:  # one statement each: VACUUM refuses to run in a transaction
        await db.execute(f"vacuum analyze points.{table}")


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


# --------------------------------------------------------------------------- expiry

# Lots expire through one day from T0 + 400 days, a second apart per member.
_FILL_EXPIRING = """
    insert into points.lots (lot_id, member_id, source, reference, store_id, earned_at,
        vests_at, expires_at, warn_at, points, remaining, vested, warned, expired)
    select md5(m || '/' || k)::uuid::text, 'm' || lpad(m::text, 8, '0'), 'purchase',
           'p' || m || '-' || k, 'store-1', e, e + interval '7 days', e + interval '365 days',
           e + interval '335 days', 10 + (m + k) % 90, 10 + (m + k) % 90, true, true, false
    from generate_series(0, $1 - 1) m, generate_series(0, $2 - 1) k,
         lateral (select $3::timestamptz + make_interval(secs => (m % 86400) + k * 0.001)
                         - interval '365 days' as e) t"""
_FILL_BALANCES = """
    insert into points.balances (member_id, balance, available, partition, next_moment)
    select member_id, sum(remaining), sum(remaining), abs(hashtext(member_id)) % $1,
           min(expires_at)
    from points.lots group by member_id"""
_FILL_CLOCKS = """
    insert into points.partition_clocks (partition, watermark)
    select p, $2::timestamptz from generate_series(0, $1 - 1) p"""
_DUE_SCAN = """
    select count(*), sum(s) from (select member_id, sum(remaining) as s from points.lots
    where expires_at <= $1 and remaining > 0 group by member_id) m"""
_EXPIRE_ALL = """
    update points.lots set remaining = 0, expired = true
    where expires_at <= $1 and remaining > 0"""


async def expiry(server: str, lots: int) -> list[str]:
    members = max(lots // LOTS_PER_MEMBER, 1)
    lots = members * LOTS_PER_MEMBER
    night = T0 + timedelta(days=400)
    async with fresh_database(server, "expiry") as (url, db):
        say(f"expiry: filling {lots:,} lots of {members:,} members")
        await db.execute(_FILL_EXPIRING, members, LOTS_PER_MEMBER, night)
        await db.execute(_FILL_BALANCES, PARTITIONS)
        await db.execute(_FILL_CLOCKS, PARTITIONS, night - timedelta(seconds=1))
        await vacuum(db, "lots", "balances")
        after = night + timedelta(days=2)
        say("expiry: baselines")
        scan, _ = await timed(lambda: db.fetchrow(_DUE_SCAN, after))

        async def rolled_back() -> None:
            tx = db.transaction()
            await tx.start()
            await db.execute(_EXPIRE_ALL, after)
            await tx.rollback()

        update, _ = await timed(rolled_back)
        await vacuum(db, "lots")
        handler, engine = in_process_handler(url)
        say("expiry: the sweep")
        try:
            swept, staged = await timed(lambda: handler.sweep(range(PARTITIONS), after))
        finally:
            await engine.dispose()
        expired = await db.fetchval("select count(*) from points.lots where expired")
        entries = await db.fetchval("select count(*) from points.ledger_entries")
        events = await db.fetchval("select count(*) from points.outbox")
    return [
        f"expiry: {lots:,} lots of {members:,} members, {PARTITIONS} partitions",
        f"  sweep (entries + events, in steps)  {swept:8.1f} s  {lots / swept:>9,.0f} lots/s",
        f"  plain SQL scan of the due lots      {scan:8.2f} s  {lots / scan:>9,.0f} lots/s",
        f"  plain SQL UPDATE of them            {update:8.2f} s  {lots / update:>9,.0f} lots/s",
        f"  sweep / scan {swept / scan:,.0f}x, sweep / update {swept / update:,.0f}x;"
        f" {expired:,} lots expired, {entries:,} entries, {events:,} events ({staged:,} staged)",
    ]


# --------------------------------------------------------------------------- liability

# Ten purchases per member over three years; each purchase's lot and entries as the
# service writes them, those past the end left out (balances_after are not filled: the
# report does not read them).
_FILL_LOTS = """
    insert into points.lots (lot_id, member_id, source, reference, store_id, earned_at,
        vests_at, expires_at, warn_at, points, remaining, vested, warned, expired)
    select md5(m || '/' || k)::uuid::text, 'm' || lpad(m::text, 8, '0'), 'purchase',
           'p' || m || '-' || k, 'store-1', e, e + interval '7 days', e + interval '365 days',
           e + interval '335 days', pts, case when e + interval '365 days' <= $3 then 0 else pts end,
           e + interval '7 days' <= $3, e + interval '335 days' <= $3,
           e + interval '365 days' <= $3
    from generate_series(0, $1 - 1) m, generate_series(0, $2 - 1) k,
         lateral (select $4::timestamptz + make_interval(
                      days => ((m::bigint * 7919 + k * 104729) % ($5 * 365))::int,
                      secs => m % 86400) as e, 10 + (m::bigint * 31 + k * 17) % 90 as pts) t"""
_FILL_ENTRIES = """
    insert into points.ledger_entries (member_id, kind, delta, balance_after, reference,
        purchase_id, store_id, tier, occurred_at, available_after, available_delta, lots)
    select member_id, 'earned', points, 0, reference, reference, store_id, 'opal', earned_at,
           0, 0, jsonb_build_array(jsonb_build_array(lot_id, points)) from points.lots
    union all
    select member_id, 'vested', 0, 0, lot_id, reference, store_id, null, vests_at, 0, points,
           '[]' from points.lots where vested
    union all
    select member_id, 'expiring_soon', 0, 0, lot_id, reference, store_id, null, warn_at, 0, 0,
           '[]' from points.lots where warned
    union all
    select member_id, 'expired', -points, 0, lot_id, reference, store_id, null, expires_at, 0,
           -points, jsonb_build_array(jsonb_build_array(lot_id, -points))
    from points.lots where expired"""
_FILL_HELD = """
    insert into points.balances (member_id, balance, available)
    select member_id, sum(delta), sum(available_delta) from points.ledger_entries
    group by member_id"""
_SCAN = "select count(*), sum(delta) from points.ledger_entries"


async def liability_report(server: str, entries: int) -> list[str]:
    members = max(round(entries / ENTRIES_PER_PURCHASE / LOTS_PER_MEMBER), 1)
    end = T0 + timedelta(days=365 * YEARS)
    async with fresh_database(server, "liability") as (url, db):
        say(f"liability: filling about {entries:,} entries of {members:,} members")
        await db.execute(_FILL_LOTS, members, LOTS_PER_MEMBER, end, T0, YEARS)
        await db.execute(_FILL_ENTRIES)
        await db.execute(_FILL_HELD)
        await vacuum(db, "ledger_entries", "lots", "balances")
        rows = await db.fetchval("select count(*) from points.ledger_entries")
        latest = await db.fetchval("select max(occurred_at) from points.ledger_entries")
        say(f"liability: {rows:,} entries; baseline scan, then the report")
        scan, _ = await timed(lambda: db.fetchrow(_SCAN))
        engine = create_engine(asyncpg_url(url))
        sessions = session_factory(engine)
        value = Decimal("0.15")

        async def report(as_of: datetime) -> Any:
            async with sessions() as session:
                return await liability(session, as_of, as_of - timedelta(days=30), as_of, value)

        try:
            now, present = await timed(lambda: report(latest))
            year, past = await timed(lambda: report(latest - timedelta(days=365)))
        finally:
            await engine.dispose()
    return [
        f"liability: {rows:,} entries, {members * LOTS_PER_MEMBER:,} lots, {members:,} members",
        f"  plain SQL scan summing every entry  {scan:8.2f} s",
        f"  report as of the latest entry       {now:8.2f} s  ({now / scan:.2f}x the scan;"
        f" outstanding {present.outstanding:,}, expiring in 90 days {present.expiring[90]:,})",
        f"  report as of a year before          {year:8.2f} s  ({year / scan:.2f}x the scan;"
        f" outstanding {past.outstanding:,}, breakage {past.breakage})",
    ]


# --------------------------------------------------------------------------- running


async def run_all(args: argparse.Namespace, server: str) -> None:
    if args.only in (None, "expiry"):
        print("\n".join(await expiry(server, args.lots)), flush=True)
    if args.only in (None, "liability"):
        print("\n".join(await liability_report(server, args.entries)), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--entries", type=int, default=10_000_000)
    ap.add_argument("--only", choices=("expiry", "liability"))
    args = ap.parse_args(argv)
    on_database_server(lambda server: run_all(args, server))


if __name__ == "__main__":
    sys.exit(main())
