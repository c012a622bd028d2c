"""Migration 0007's data step: every ledger written before lots existed is replayed in
order under the programme's lifecycle (`domain/lots_from_history.py`) and written
again, with its lots, the vestings and expiries that fell due between its entries, the
spendable balance, and what each redemption took from which lots.

The entries are rewritten in place (the one time the append-only trigger is lifted):
each written entry keeps its kind, amount, reference, moments and `recorded_at`; the
added ones are recorded now. No events are published for the moments that passed
before the migration: the ledger and the balance carry them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from loyalty_kernel.programme import Programme
from loyalty_points.adapters.lots import allocations_json
from loyalty_points.domain.lots_from_history import Replayed, WrittenEntry, replay

S = "points"
MEMBERS_AT_A_TIME = 500

_ENTRIES = text(f"""
    select member_id, kind, delta, reference, purchase_id, store_id, tier, occurred_at,
           recorded_at
    from {S}.ledger_entries where member_id = any(:members) order by member_id, id""")
_INSERT_ENTRY = text(f"""
    insert into {S}.ledger_entries
        (member_id, kind, delta, balance_after, reference, purchase_id, store_id, tier,
         occurred_at, recorded_at, available_after, available_delta, lots)
    values (:member_id, :kind, :delta, :balance_after, :reference, :purchase_id, :store_id,
            :tier, :occurred_at, coalesce(:recorded_at, now()), :available_after,
            :available_delta, cast(:lots as jsonb))""")
_INSERT_LOT = text(f"""
    insert into {S}.lots (lot_id, member_id, source, reference, store_id, earned_at, vests_at,
                          expires_at, warn_at, points, remaining, vested, warned, expired)
    values (:lot_id, :member_id, :source, :reference, :store_id, :earned_at, :vests_at,
            :expires_at, :warn_at, :points, :remaining, :vested, :warned, :expired)""")
_BALANCE = text(f"""
    update {S}.balances set balance = :balance, available = :available,
                            next_moment = :next_moment
    where member_id = :member_id""")
_DEBIT = text(f"update {S}.debits set lots = cast(:lots as jsonb) where debit_id = :debit_id")


def backfill(connection: Connection, programme: Programme) -> int:
    """Replay every member's written ledger; returns how many members."""
    members = [r[0] for r in connection.execute(
        text(f"select distinct member_id from {S}.ledger_entries order by 1"))]  # fmt: skip
    if not members:
        return 0
    connection.execute(text(f"alter table {S}.ledger_entries disable trigger "
                            "ledger_entries_append_only"))  # fmt: skip
    for start in range(0, len(members), MEMBERS_AT_A_TIME):
        _rewrite(connection, members[start : start + MEMBERS_AT_A_TIME], programme)
    connection.execute(text(f"alter table {S}.ledger_entries enable trigger "
                            "ledger_entries_append_only"))  # fmt: skip
    return len(members)


def _rewrite(connection: Connection, members: list[str], programme: Programme) -> None:
    written: dict[str, list[Any]] = defaultdict(list)
    for row in connection.execute(_ENTRIES, {"members": members}):
        written[row.member_id].append(row)
    replays = {
        member: replay(member, [_written(r) for r in rows], programme.points, programme.currency)
        for member, rows in written.items()
    }
    connection.execute(text(f"delete from {S}.ledger_entries where member_id = any(:members)"),
                       {"members": members})  # fmt: skip
    entries, lots, balances, debits = [], [], [], []
    for member, done in replays.items():
        entries += _entries(done, written[member])
        book = done.ledger.book
        lots += [vars(lot) | {"source": lot.source.value} for lot in book.lots.values()]
        balances.append({"member_id": member, "balance": book.balance,
                         "available": book.available, "next_moment": book.next_moment()})  # fmt: skip
        debits += [{"debit_id": d, "lots": allocations_json(debit.lots)}
                   for d, debit in done.debits.items()]  # fmt: skip
    for statement, rows in ((_INSERT_ENTRY, entries), (_INSERT_LOT, lots),
                            (_BALANCE, balances), (_DEBIT, debits)):  # fmt: skip
        if rows:
            connection.execute(statement, rows)


def _written(row: Any) -> WrittenEntry:
    return WrittenEntry(row.kind, row.delta, row.reference, row.purchase_id, row.store_id,
                        row.tier, row.occurred_at)  # fmt: skip


def _entries(done: Replayed, written: list[Any]) -> list[dict[str, Any]]:
    out = []
    for entry, n in zip(done.ledger.new_entries, done.written_as, strict=True):
        out.append({
            "member_id": entry.member_id, "kind": entry.kind.value, "delta": entry.delta,
            "balance_after": entry.balance_after, "reference": entry.reference,
            "purchase_id": entry.purchase_id, "store_id": entry.store_id, "tier": entry.tier,
            "occurred_at": entry.occurred_at,
            "recorded_at": written[n].recorded_at if n is not None else None,
            "available_after": entry.available_after,
            "available_delta": entry.available_delta, "lots": allocations_json(entry.lots),
        })  # fmt: skip
    return out
