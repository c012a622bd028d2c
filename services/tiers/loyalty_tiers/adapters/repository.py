"""Loading and saving tier standings and partition clocks, a batch at a time.

Like the points ledger, this is a consumer's hot path: asyncpg directly inside the
unit of work's transaction, array parameters, COPY for the append-only tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_kernel.intake.records import RecordedRefund
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.clocks import PartitionClocks
from loyalty_platform.database import copy_objects, driver_connection, lock_members
from loyalty_platform.purchase_history import PurchaseHistory, by_member
from loyalty_tiers.adapters.orm import SCHEMA
from loyalty_tiers.domain.partitions import TierBatch
from loyalty_tiers.domain.standing import Purchase, TierStanding

_DUE = f"""
    select m.member_id from {SCHEMA}.members m
    join unnest($1::int[], $2::timestamptz[]) as d(partition, watermark)
      on m.partition = d.partition and m.drops_at <= d.watermark"""
_MEMBERS = f"""
    select member_id, partition, tier, since, clock, drops_at, changes_made
    from {SCHEMA}.members where member_id = any($1::text[]) order by member_id"""
_SAVE_MEMBERS = f"""
    insert into {SCHEMA}.members
        (member_id, partition, tier, since, clock, drops_at, changes_made, first_seen_at)
    select u.*, u.since from unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[],
                                    $5::timestamptz[], $6::timestamptz[], $7::int[])
        as u(member_id, partition, tier, since, clock, drops_at, changes_made)
    on conflict (member_id) do update set
        partition = excluded.partition, tier = excluded.tier, since = excluded.since,
        clock = excluded.clock, drops_at = excluded.drops_at,
        changes_made = excluded.changes_made"""

_PURCHASE_COLUMNS = ["purchase_id", "member_id", "amount", "occurred_at", "store_id"]
_REFUND_COLUMNS = ["refund_id", "purchase_id", "amount", "occurred_at", "store_id"]
_HISTORY = PurchaseHistory(SCHEMA, _PURCHASE_COLUMNS, _REFUND_COLUMNS)
_CHANGE_COLUMNS = [
    "member_id",
    "sequence",
    "from_tier",
    "to_tier",
    "direction",
    "qualifying_spend",
    "window_spend",
    "effective_at",
    "cause",
    "reference",
]


class StandingRepository:
    def __init__(self, session: AsyncSession, currency: str) -> None:
        self._session, self._currency = session, currency
        self.clocks = PartitionClocks(session, SCHEMA)

    async def watermark(self, partition: int) -> datetime | None:
        return await self.clocks.watermark(partition)

    async def due(self, watermarks: PartitionWatermarks) -> list[str]:
        """Members of these partitions whose tier drops by the partition's watermark."""
        known = watermarks.known()
        if not known:
            return []
        db = await driver_connection(self._session)
        rows = await db.fetch(_DUE, list(known), list(known.values()))
        return [r[0] for r in rows]

    async def load(
        self,
        first_event: Mapping[str, datetime | None],
        reach: timedelta,
        references: Mapping[str, set[str]],
        watermarks: PartitionWatermarks | None = None,
        *,
        lock: bool = True,
    ) -> TierBatch:
        """The members' standings (rows locked; absent for members never seen), with
        every purchase the tier rule may look at from the earlier of each member's
        first event in the batch and their standing's clock, and the purchases that
        `references` names. Reads for the API pass `lock=False`."""
        db = await driver_connection(self._session)
        if lock:
            rows = await lock_members(db, _MEMBERS + " for update", first_event, "tiers.members")
        else:
            rows = await db.fetch(_MEMBERS, sorted(first_event))
        clocks = {r[0]: r[4] for r in rows}
        lookback = {}
        for member, first in first_event.items():
            starts = [t for t in (first, clocks.get(member)) if t is not None]
            if starts:  # else a member never seen, with nothing to load
                lookback[member] = min(starts) - reach
        referenced = sorted(set().union(*references.values()))
        purchases = await _HISTORY.load(db, referenced, lookback, Purchase, RecordedRefund)
        own = by_member(purchases, lookback, references)
        batch = TierBatch({}, {}, watermarks or PartitionWatermarks(), own)
        for member, partition, tier, since, clock, drops_at, changes in rows:
            batch.standings[member] = TierStanding(
                member, tier, since, clock, drops_at, changes, own[member], self._currency,
                batch=batch.recorded,
            )  # fmt: skip
            batch.partitions[member] = partition
        return batch

    async def save(self, standings: Iterable[TierStanding], partitions: Mapping[str, int]) -> None:
        """Upsert the standings, append what they recorded: one statement, three COPYs."""
        db = await driver_connection(self._session)
        touched = sorted(standings, key=lambda s: s.member_id)
        if touched:
            await db.execute(
                _SAVE_MEMBERS,
                [s.member_id for s in touched],
                [partitions[s.member_id] for s in touched],
                [s.tier for s in touched],
                [s.since for s in touched],
                [s.clock for s in touched],
                [s.drops_at for s in touched],
                [s.changes_made for s in touched],
            )
        await copy_objects(
            db,
            SCHEMA,
            "purchases",
            _PURCHASE_COLUMNS,
            [p for s in touched for p in s.new_purchases],
        )
        await copy_objects(
            db, SCHEMA, "refunds", _REFUND_COLUMNS, [r for s in touched for r in s.new_refunds]
        )
        await copy_objects(
            db, SCHEMA, "tier_changes", _CHANGE_COLUMNS, [c for s in touched for c in s.new_changes]
        )
        for s in touched:
            s.new_purchases, s.new_refunds, s.new_changes = [], [], []
