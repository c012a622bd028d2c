"""Loading and saving members' ledgers, in bulk, one batch at a time.

This is the consumer's hot path, so it talks to asyncpg directly inside the unit of
work's transaction: array parameters instead of long IN lists, COPY for the
append-only tables, statements asyncpg prepares once and reuses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import astuple
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_kernel.intake.commands import PurchaseKey
from loyalty_kernel.intake.records import Receipts
from loyalty_kernel.programme import PointsLifecycle
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.clocks import PartitionClocks
from loyalty_platform.database import copy_objects, copy_rows, driver_connection, lock_members
from loyalty_platform.purchase_history import PurchaseHistory, by_member
from loyalty_points.adapters.lots import (
    ENTRY_COLUMNS,
    allocations_json,
    allocations_of,
    changed_lots,
    entry_record,
    live_lots,
    named_lots,
    save_lots,
)
from loyalty_points.adapters.orm import SCHEMA
from loyalty_points.domain.entries import Adjustment, Debit
from loyalty_points.domain.ledger import Ledger, Purchase, Refund
from loyalty_points.domain.lot_book import LotBook

_LOCK_BALANCES = f"""
    select member_id, partition from {SCHEMA}.balances
    where member_id = any($1::text[]) order by member_id for update"""
# Which of these members have a purchase recorded (the first-purchase rule asks).
_PURCHASED = f"""
    select m from unnest($1::text[]) as m
    where exists (select 1 from {SCHEMA}.purchases p where p.member_id = m)"""

_LOCK_BALANCE = f"select balance from {SCHEMA}.balances where member_id = $1 for update"
_DEBIT = f"""
    select debit_id, member_id, points, reference, created_at, balance_after, restored_at, lots
    from {SCHEMA}.debits where debit_id = $1"""
_ADD_DEBIT = f"""
    insert into {SCHEMA}.debits
        (debit_id, member_id, points, reference, created_at, balance_after, restored_at, lots)
    values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)"""
_RESTORED = f"update {SCHEMA}.debits set restored_at = $2 where debit_id = $1"
_ADJUSTMENT = f"""
    select adjustment_id, member_id, points, reason, actor, made_at, balance_after
    from {SCHEMA}.adjustments where adjustment_id = $1"""
_ADD_ADJUSTMENT = f"""
    insert into {SCHEMA}.adjustments
        (adjustment_id, member_id, points, reason, actor, made_at, balance_after)
    values ($1, $2, $3, $4, $5, $6, $7)"""

_SAVE_BALANCES = f"""
    insert into {SCHEMA}.balances (member_id, balance, available, partition, next_moment)
    select * from unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::timestamptz[])
    on conflict (member_id) do update set
        balance = excluded.balance, available = excluded.available,
        partition = coalesce(excluded.partition, balances.partition),
        next_moment = excluded.next_moment, updated_at = now()"""
_UNPLACED = f"select member_id from {SCHEMA}.balances where partition is null limit $1"
_PLACE = f"""
    update {SCHEMA}.balances b set partition = p.partition
    from unnest($1::text[], $2::int[]) as p(member_id, partition)
    where b.member_id = p.member_id and b.partition is null"""
# A placed member's partition has read at least up to their latest entry: a clock for
# it (the migration leaves none) lets the sweeper reach them.
_CLOCK_PLACED = f"""
    insert into {SCHEMA}.partition_clocks (partition, watermark)
    select b.partition, max(e.occurred_at) from {SCHEMA}.balances b
    join {SCHEMA}.ledger_entries e on e.member_id = b.member_id
    where b.member_id = any($1::text[]) group by b.partition
    on conflict (partition) do update set watermark = greatest(
        coalesce(partition_clocks.watermark, excluded.watermark), excluded.watermark)"""
# Members of these partitions with a lot moment due by the partition's watermark.
_DUE = f"""
    select b.member_id from {SCHEMA}.balances b
    join unnest($1::int[], $2::timestamptz[]) as d(partition, watermark)
      on b.partition = d.partition and b.next_moment <= d.watermark"""

# The same, soonest first, at most $3 per partition (and one more, to tell whether
# there were more).
_DUE_FIRST = f"""
    select d.partition, m.member_id, m.next_moment
    from unnest($1::int[], $2::timestamptz[]) as d(partition, watermark)
    cross join lateral (
        select b.member_id, b.next_moment from {SCHEMA}.balances b
        where b.partition = d.partition and b.next_moment <= d.watermark
        order by b.next_moment limit $3 + 1) m
    order by d.partition, m.next_moment"""

_REFUND_COLUMNS = [
    "refund_id",
    "purchase_id",
    "amount",
    "occurred_at",
    "store_id",
    "points_clawed_back",
]
_PURCHASE_COLUMNS = [
    "purchase_id",
    "member_id",
    "amount",
    "occurred_at",
    "store_id",
    "points_earned",
    "programme_version",
    "extras",
]
_TICK = timedelta(microseconds=1)  # PostgreSQL's resolution
_HISTORY = PurchaseHistory(SCHEMA, _PURCHASE_COLUMNS, _REFUND_COLUMNS)


class LedgerRepository:
    def __init__(
        self,
        session: AsyncSession,
        currency: str,
        lifecycle: PointsLifecycle,
        asks_first_purchase: bool = False,
    ) -> None:
        self._session, self._currency, self._lifecycle = session, currency, lifecycle
        self._asks_first = asks_first_purchase
        self.clocks = PartitionClocks(session, SCHEMA)

    async def due(self, watermarks: PartitionWatermarks) -> list[str]:
        """Members of these partitions with a lot that vests, is warned of or expires by
        the partition's watermark."""
        known = watermarks.known()
        if not known:
            return []
        db = await driver_connection(self._session)
        return [r[0] for r in await db.fetch(_DUE, list(known), list(known.values()))]

    async def due_in_steps(
        self, watermarks: PartitionWatermarks, limit: int
    ) -> tuple[list[str], PartitionWatermarks, dict[int, datetime]]:
        """The members `due` would give, at most `limit` per partition, soonest first;
        how far each partition can move with only them settled: its watermark if they
        are all, else to just before the first moment left out; and, for a partition
        whose whole chunk is due at one moment with more members due then, that moment:
        the chunk is settled up to it while the clock stays just before it, and the
        next step takes the next members due then."""
        known = watermarks.known()
        if not known:
            return [], watermarks, {}
        db = await driver_connection(self._session)
        rows = await db.fetch(_DUE_FIRST, list(known), list(known.values()), limit)
        by_partition: dict[int, list[tuple[str, datetime]]] = {}
        for partition, member, moment in rows:
            by_partition.setdefault(partition, []).append((member, moment))
        members: list[str] = []
        reached, ahead = dict(known), {}
        for partition, due in by_partition.items():
            if len(due) <= limit:
                members += [m for m, _ in due]
                continue
            first_left = due[limit][1]
            reached[partition] = first_left - _TICK
            if due[0][1] == first_left:
                members += [m for m, _ in due[:limit]]
                ahead[partition] = first_left
            else:
                members += [m for m, at in due[:limit] if at < first_left]
        return members, PartitionWatermarks.of(reached), ahead

    async def unplaced(self, limit: int) -> list[str]:
        """Members whose partition of `purchases` is not known yet (their ledger came
        from before lots, and they have bought nothing since)."""
        db = await driver_connection(self._session)
        return [r[0] for r in await db.fetch(_UNPLACED, limit)]

    async def place(self, partitions: Mapping[str, int]) -> None:
        db = await driver_connection(self._session)
        members = sorted(partitions)
        await db.execute(_PLACE, members, [partitions[m] for m in members])
        if members:
            await db.execute(_CLOCK_PLACED, members)

    async def for_members(
        self,
        references: Mapping[str, set[str]],
        lookback: Mapping[str, datetime],
        refunded: Iterable[str] = (),
    ) -> tuple[dict[str, Ledger], dict[str, int]]:
        """Each member's ledger, balance row locked, holding their lots that hold or owe
        points, their purchases since their `lookback` start and every purchase their
        events refer to (`references`), and the lots of the purchases `refunded`; and
        the members' partitions of `purchases`, where known."""
        db = await driver_connection(self._session)
        members = sorted(references)
        rows = await lock_members(db, _LOCK_BALANCES, members, "points.balances")
        partitions = {m: p for m, p in rows if p is not None}
        referenced = sorted(set().union(*references.values())) if references else []
        purchases = await _HISTORY.load(db, referenced, lookback, _purchase, Refund)
        own = by_member(purchases, lookback, references)
        lots = await live_lots(db, members, refunded)
        purchased = await self._purchased(db, [m for m, _ in rows], own)
        batch: Receipts[Purchase] = Receipts()  # what the batch records, whoever's
        ledgers = {m: Ledger(m, self._book(m, lots[m]), own[m], self._currency, batch,
                             purchased=m in purchased)
                   for m in members}  # fmt: skip
        return ledgers, partitions

    async def _purchased(
        self, db: Any, known: list[str], own: Mapping[str, Mapping[PurchaseKey, Purchase]]
    ) -> set[str]:
        """The members with a purchase recorded before what was loaded of theirs: asked
        only when a rule needs it, and only of members with a balance row none of whose
        own purchases were loaded (the ledger counts those itself)."""
        if not self._asks_first:
            return set()
        unsure = [m for m in known if not any(p.member_id == m for p in own.get(m, {}).values())]
        return {r[0] for r in await db.fetch(_PURCHASED, unsure)} if unsure else set()

    def _book(self, member_id: str, lots: dict[str, Any]) -> LotBook:
        return LotBook(member_id, self._lifecycle, lots)

    async def for_spending(self, member_id: str, debit: Debit | None = None) -> Ledger:
        """The member's ledger with its balance row locked and its live lots (and the
        lots `debit` took from), no purchases: the lock every spend and restore of that
        member waits on."""
        db = await driver_connection(self._session)
        await db.fetchval(_LOCK_BALANCE, member_id)
        lots = (await live_lots(db, [member_id]))[member_id]
        if debit is not None:
            lots |= await named_lots(db, [lot_id for lot_id, _ in debit.lots if lot_id not in lots])
        return Ledger(member_id, self._book(member_id, lots), {}, self._currency)

    async def for_adjusting(self, member_id: str) -> Ledger | None:
        """The member's ledger with its balance row locked; None for a member with no
        account yet. (Creating one here could race the consumer creating it.)"""
        db = await driver_connection(self._session)
        if await db.fetchval(_LOCK_BALANCE, member_id) is None:
            return None
        lots = (await live_lots(db, [member_id]))[member_id]
        return Ledger(member_id, self._book(member_id, lots), {}, self._currency)

    async def adjustment(self, adjustment_id: str) -> Adjustment | None:
        db = await driver_connection(self._session)
        row = await db.fetchrow(_ADJUSTMENT, adjustment_id)
        return None if row is None else Adjustment(*row)

    async def add_adjustment(self, a: Adjustment) -> None:
        db = await driver_connection(self._session)
        await db.execute(_ADD_ADJUSTMENT, *astuple(a))

    async def debit(self, debit_id: str, *, lock: bool = False) -> Debit | None:
        db = await driver_connection(self._session)
        row = await db.fetchrow(_DEBIT + (" for update" if lock else ""), debit_id)
        if row is None:
            return None
        debit_id, member_id, points, reference, created_at, balance_after, restored_at, lots = row
        return Debit(debit_id, member_id, points, reference, created_at, balance_after,
                     restored_at, allocations_of(lots))  # fmt: skip

    async def add_debit(self, debit: Debit) -> None:
        db = await driver_connection(self._session)
        await db.execute(_ADD_DEBIT, *astuple(debit)[:-1], allocations_json(debit.lots))

    async def mark_restored(self, debit: Debit) -> None:
        db = await driver_connection(self._session)
        await db.execute(_RESTORED, debit.debit_id, debit.restored_at)

    async def save(self, ledgers: Iterable[Ledger], partitions: Mapping[str, int] = {}) -> None:
        """Append what the ledgers recorded, save the lots they changed, move the
        balances (with each member's `partitions` of `purchases`, where known): three
        COPYs, two upserts."""
        ledgers = [lg for lg in ledgers if lg.new_entries or lg.new_purchases or lg.new_refunds
                   or lg.book.changed]  # fmt: skip
        db = await driver_connection(self._session)
        await copy_rows(
            db,
            SCHEMA,
            "purchases",
            _PURCHASE_COLUMNS,
            [_purchase_row(p) for lg in ledgers for p in lg.new_purchases],
        )
        await copy_objects(
            db, SCHEMA, "refunds", _REFUND_COLUMNS, [r for lg in ledgers for r in lg.new_refunds]
        )
        entries = [entry_record(e) for lg in ledgers for e in lg.new_entries]
        await copy_rows(db, SCHEMA, "ledger_entries", ENTRY_COLUMNS, entries)
        await save_lots(db, *changed_lots(lg.book for lg in ledgers))
        moved = sorted(ledgers, key=lambda lg: lg.member_id)
        if moved:
            await db.execute(
                _SAVE_BALANCES,
                [lg.member_id for lg in moved],
                [lg.balance for lg in moved],
                [lg.available for lg in moved],
                [partitions.get(lg.member_id) for lg in moved],
                [lg.next_moment() for lg in moved],
            )
        for lg in ledgers:
            lg.new_entries, lg.new_purchases, lg.new_refunds = [], [], []


def _purchase(
    purchase_id: str,
    member_id: str,
    amount: Decimal,
    occurred_at: datetime,
    store_id: str,
    points_earned: int,
    programme_version: str | None,
    extras: str | dict[str, str] | None,
) -> Purchase:
    stored = json.loads(extras) if isinstance(extras, str) else extras  # as the codec gives it
    given = {k: Decimal(v) for k, v in stored.items()} if stored else {}
    return Purchase(purchase_id, member_id, amount, occurred_at, store_id, points_earned,
                    programme_version, given)  # fmt: skip


def _purchase_row(p: Purchase) -> tuple[Any, ...]:
    extras = json.dumps({k: str(v) for k, v in p.extras.items()}) if p.extras else None
    return (p.purchase_id, p.member_id, p.amount, p.occurred_at, p.store_id, p.points_earned,
            p.programme_version, extras)  # fmt: skip
