"""Loading and saving members' lots, and the ledger entries that say which lots they
touched. Part of the points consumer's hot path: array parameters, one upsert."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from loyalty_points.adapters.orm import SCHEMA
from loyalty_points.domain.entries import LedgerEntry
from loyalty_points.domain.lots import Allocation, Lot, LotSource

_COLUMNS = ("lot_id, member_id, source, reference, store_id, earned_at, vests_at, "
            "expires_at, warn_at, points, remaining, vested, warned, expired")  # fmt: skip

# The lots that still hold (or owe) points, the member's debt lot even when nothing is
# owed (it is the one a new debt goes to), and the lots of purchases a batch refunds.
_LIVE = f"""
    select {_COLUMNS} from {SCHEMA}.lots
    where member_id = any($1::text[])
      and (remaining <> 0 or source = 'debt'
           or (source = 'purchase' and reference = any($2::text[])))"""
_NAMED = f"select {_COLUMNS} from {SCHEMA}.lots where lot_id = any($1::text[])"

_PLAIN_ID = re.compile(r"[0-9a-f-]{36}")
LOT_COLUMNS = [c.strip() for c in _COLUMNS.split(",")]
_LOT_VALUES = attrgetter(*LOT_COLUMNS)
# What time and spending change of a lot; the rest is fixed when it is opened.
_UPDATE = f"""
    update {SCHEMA}.lots l set remaining = u.remaining, vested = u.vested, warned = u.warned,
                               expired = u.expired
    from unnest($1::text[], $2::bigint[], $3::bool[], $4::bool[], $5::bool[])
        as u(lot_id, remaining, vested, warned, expired)
    where l.lot_id = u.lot_id"""

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
    "programme_version",
    "rules",
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


async def save_lots(db: Any, opened: Iterable[Lot], changed: Iterable[Lot]) -> None:
    """New lots by COPY; what changed of the others, in one statement."""
    new = [_LOT_VALUES(lot) for lot in opened]  # a LotSource is a str: written as it is
    if new:
        await db.copy_records_to_table("lots", schema_name=SCHEMA, columns=LOT_COLUMNS,
                                       records=new)  # fmt: skip
    rows = sorted(changed, key=lambda lot: lot.lot_id)
    if rows:
        await db.execute(_UPDATE, [x.lot_id for x in rows], [x.remaining for x in rows],
                         [x.vested for x in rows], [x.warned for x in rows],
                         [x.expired for x in rows])  # fmt: skip


def allocations_json(moved: Sequence[Allocation]) -> str:
    if len(moved) == 1:  # most entries: one lot, whose id is a uuid (nothing to escape)
        ((lot_id, points),) = moved
        return f'[["{lot_id}", {int(points)}]]' if _PLAIN_ID.fullmatch(lot_id) else _dumps(moved)
    return _dumps(moved)


def _dumps(moved: Iterable[Allocation]) -> str:
    return json.dumps([[lot_id, points] for lot_id, points in moved])


def allocations_of(stored: str | list[Any] | None) -> tuple[Allocation, ...]:
    if stored is None:
        return ()
    items = json.loads(stored) if isinstance(stored, str) else stored
    return tuple((str(lot_id), int(points)) for lot_id, points in items)


def entry_record(e: LedgerEntry) -> tuple[Any, ...]:
    return (e.member_id, e.kind.value, e.delta, e.balance_after, e.reference, e.purchase_id,
            e.store_id, e.tier, e.occurred_at, e.available_after, e.available_delta,
            allocations_json(e.lots), e.programme_version, list(e.rules))  # fmt: skip


def changed_lots(books: Iterable[Any]) -> tuple[list[Lot], list[Lot]]:
    """The lots the books opened, and the others they changed, since loading; their
    marks are cleared."""
    opened: list[Lot] = []
    changed: list[Lot] = []
    for book in books:
        opened += [book.lots[i] for i in sorted(book.opened)]
        changed += [book.lots[i] for i in sorted(book.changed - book.opened)]
        book.changed.clear()
        book.opened.clear()
    return opened, changed
