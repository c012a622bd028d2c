"""Loading and saving members' lots, and the ledger entries that say which lots they
touched. Part of the points consumer's hot path: array parameters, one upsert."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from loyalty_points.adapters.orm import SCHEMA
from loyalty_points.domain.entries import LedgerEntry
from loyalty_points.domain.lots import Allocation, Lot, LotSource

_COLUMNS = ("lot_id, member_id, source, reference, store_id, earned_at, vests_at, "
            "expires_at, warn_at, points, remaining, vested, warned, expired")  # fmt: skip

# The lots that still hold (or owe) points, and the lots of purchases a batch refunds.
_LIVE = f"""
    select {_COLUMNS} from {SCHEMA}.lots
    where member_id = any($1::text[]) and remaining <> 0
    union
    select {_COLUMNS} from {SCHEMA}.lots
    where member_id = any($1::text[]) and reference = any($2::text[]) and source = 'purchase'"""
_NAMED = f"select {_COLUMNS} from {SCHEMA}.lots where lot_id = any($1::text[])"

_SAVE = f"""
    insert into {SCHEMA}.lots ({_COLUMNS})
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[], $7::timestamptz[], $8::timestamptz[],
                         $9::timestamptz[], $10::bigint[], $11::bigint[], $12::bool[],
                         $13::bool[], $14::bool[])
    on conflict (lot_id) do update set
        remaining = excluded.remaining, vested = excluded.vested,
        warned = excluded.warned, expired = excluded.expired"""

ENTRY_COLUMNS = [
    "member_id",
    "kind",
    "delta",
    "balance_after",
    "reference",
    "purchase_id",
    "store_id",
    "tier",
    "occurred_at",
    "available_after",
    "available_delta",
    "lots",
]


def _lot(row: Sequence[Any]) -> Lot:
    (lot_id, member, source, reference, store, earned, vests, expires, warn,
     points, remaining, vested, warned, expired) = row  # fmt: skip
    return Lot(lot_id, member, LotSource(source), reference, store, earned, vests, expires,
               points, remaining, vested, warned, expired, warn)  # fmt: skip


async def live_lots(
    db: Any, members: Sequence[str], references: Iterable[str] = ()
) -> dict[str, dict[str, Lot]]:
    """Each member's lots that hold or owe points, and the lots of the purchases named."""
    found: dict[str, dict[str, Lot]] = {m: {} for m in members}
    for row in await db.fetch(_LIVE, list(members), sorted(set(references))):
        lot = _lot(row)
        found[lot.member_id][lot.lot_id] = lot
    return found


async def named_lots(db: Any, lot_ids: Iterable[str]) -> dict[str, Lot]:
    return {r[0]: _lot(r) for r in await db.fetch(_NAMED, sorted(set(lot_ids)))}


async def save_lots(db: Any, lots: Iterable[Lot]) -> None:
    rows = sorted(lots, key=lambda lot: lot.lot_id)
    if not rows:
        return
    columns = [
        [lot.lot_id for lot in rows],
        [lot.member_id for lot in rows],
        [lot.source.value for lot in rows],
        [lot.reference for lot in rows],
        [lot.store_id for lot in rows],
        [lot.earned_at for lot in rows],
        [lot.vests_at for lot in rows],
        [lot.expires_at for lot in rows],
        [lot.warn_at for lot in rows],
        [lot.points for lot in rows],
        [lot.remaining for lot in rows],
        [lot.vested for lot in rows],
        [lot.warned for lot in rows],
        [lot.expired for lot in rows],
    ]
    await db.execute(_SAVE, *columns)


def allocations_json(moved: Iterable[Allocation]) -> str:
    return json.dumps([[lot_id, points] for lot_id, points in moved])


def allocations_of(stored: str | list[Any] | None) -> tuple[Allocation, ...]:
    if stored is None:
        return ()
    items = json.loads(stored) if isinstance(stored, str) else stored
    return tuple((str(lot_id), int(points)) for lot_id, points in items)


def entry_record(e: LedgerEntry) -> tuple[Any, ...]:
    return (e.member_id, e.kind.value, e.delta, e.balance_after, e.reference, e.purchase_id,
            e.store_id, e.tier, e.occurred_at, e.available_after, e.available_delta,
            allocations_json(e.lots))  # fmt: skip


def changed_lots(books: Mapping[str, Any]) -> list[Lot]:
    """The lots the books changed since loading; their change marks are cleared."""
    out: list[Lot] = []
    for book in books.values():
        out += [book.lots[lot_id] for lot_id in sorted(book.changed)]
        book.changed.clear()
    return out
