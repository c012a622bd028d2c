"""Migration 0007 on a database the old code filled: each ledger is replayed under the
programme and gets its lots, and reads as if the lifecycle had always been in force."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from loyalty_platform.migrations import upgrade
from loyalty_points.domain.lots import LotSource, lot_id_for
from loyalty_points.migrations import MIGRATIONS_DIR
from tests.points.migrations.test_purchase_identity import execute
from tests.support.lots_reference import ReferenceLots

D0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def day(n: float) -> datetime:
    return D0 + timedelta(days=n)


# What the old code wrote for m-1 over more than a year: (kind, delta, reference,
# purchase_id, moment). The redemption on day 3 spent points the lifecycle would
# still have held pending; the one cancelled on day 400 took from a lot that has
# expired since.
WRITTEN = [
    ("earned", 100, "p1", "p1", day(0)),
    ("redeemed", -60, "d1", None, day(3)),
    ("earned", 50, "p2", "p2", day(20)),
    ("clawed_back", -20, "x1", "p2", day(22)),
    ("adjusted", 15, "a1", None, day(30)),
    ("redeemed", -30, "d2", None, day(200)),
    ("restored", 30, "d2", None, day(400)),
    ("adjusted", -10, "a2", None, day(401)),
]


def expected_entries() -> list[tuple]:
    ref = ReferenceLots(pending_days=7, expire_days=365, soon_days=30)
    for kind, delta, reference, _purchase, at in WRITTEN:
        ref.pass_time(at)
        if kind == "earned":
            ref.earn(reference, at, delta)
        elif kind == "clawed_back":
            ref.claw_back(_purchase, at, -delta)
        elif kind == "redeemed":
            ref.spend_as_written(reference, at, -delta)
        elif kind == "restored":
            ref.restore(reference, at)
        else:
            ref.adjust(reference, at, delta)
    return [(e.kind, e.at, e.delta, e.balance_after, e.available_after) for e in ref.entries]


async def test_old_ledgers_get_their_lots_by_replaying_their_entries(new_database):
    url = await new_database(None)
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0006")
    values = ", ".join(
        "('m-1', '{}', {}, 0, '{}', {}, {}, '{}', '2025-01-01T00:00:00Z')".format(
            kind, delta, ref, f"'{pid}'" if pid else "null", "'s-1'" if pid else "null",
            at.isoformat())
        for kind, delta, ref, pid, at in WRITTEN
    )  # fmt: skip
    await execute(url, f"""
        insert into points.ledger_entries (member_id, kind, delta, balance_after, reference,
                                           purchase_id, store_id, occurred_at, recorded_at)
        values {values};
        insert into points.debits (debit_id, member_id, points, reference, created_at,
                                   balance_after, restored_at)
        values ('d1', 'm-1', 60, 'r1', '{day(3).isoformat()}', 40, null),
               ('d2', 'm-1', 30, 'r2', '{day(200).isoformat()}', 0, '{day(400).isoformat()}');
        insert into points.balances (member_id, balance) values ('m-1', 75)""")  # fmt: skip
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)

    rows = await execute(url, """
        select kind, occurred_at, delta, balance_after, available_after, lots, recorded_at
        from points.ledger_entries order by id""")  # fmt: skip
    assert [tuple(r[:5]) for r in rows] == expected_entries()
    kinds = [r[0] for r in rows]
    assert {"vested", "expiring_soon", "expired"} <= set(kinds)
    # The written entries keep when they were recorded; the added ones are new.
    old = [r for r in rows if r[6] == datetime(2025, 1, 1, tzinfo=UTC)]
    assert len(old) == len(WRITTEN)
    # Balance = the entries = the lots; each entry's lots add up to its delta.
    [(balance, available)] = await execute(url, "select balance, available from points.balances")
    lots = await execute(url, "select lot_id, remaining from points.lots")
    assert balance == sum(r[2] for r in rows) == sum(r[1] for r in lots)
    assert available == rows[-1][4]
    assert all(sum(p for _, p in r[5]) == r[2] for r in rows)
    # The redemptions know which lots they took from: d1 from p1's lot, still pending
    # then (the old rules let it be spent), so a cancel would put it back there.
    [(d1_lots,)] = await execute(url, "select lots from points.debits where debit_id = 'd1'")
    assert d1_lots == [[lot_id_for("m-1", LotSource.PURCHASE, "s-1", "p1"), -60]]
    [(d2_lots,)] = await execute(url, "select lots from points.debits where debit_id = 'd2'")
    assert d2_lots == [[lot_id_for("m-1", LotSource.PURCHASE, "s-1", "p1"), -30]]
