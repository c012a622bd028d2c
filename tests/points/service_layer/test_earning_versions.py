"""A log straddling a programme version's `effective_from`, applied by the points
consumer on the real database with any batching: the same ledger every time, each
entry under the version in force at its purchase, the rules' history (first purchases,
caps) read back from the database between batches, and the events saying so."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from loyalty_kernel.programme import Programme, load_programme
from loyalty_points.adapters.orm import LedgerEntryRow, OutboxRow
from loyalty_points.bootstrap import in_process_handler
from loyalty_points.migrations import MIGRATIONS_DIR
from tests.support.events import encode, purchase, refund
from tests.support.points import undisturbed

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CHANGE = T0 + timedelta(days=10)

LAUNCH = 'version = "launch"\n[points]\npending_days = 2\nexpire_after_days = 0\n'
HOLIDAY = f"""
version = "holiday"
effective_from = {CHANGE.isoformat().replace("+00:00", "Z")}
[[earning.rules]]
id = "meat-3x"
multiplier = "3"
match = {{ category = ["meat"] }}
cap_points = 40
cap_days = 5
[[earning.rules]]
id = "no-gift-cards"
multiplier = "0"
match = {{ category = ["gift_card"] }}
[[earning.rules]]
id = "welcome"
bonus = 50
first_purchase = true
[[earning.rules]]
id = "big"
bonus = 15
min_amount = "60"
cap_points = 30
cap_days = 7
"""
ITEMS = [("TURKEY", "meat", "18.00"), ("GIFT", "gift_card", "25.00"), ("MILK", "dairy", "3.50")]


def the_programme(tmp_path) -> Programme:
    (tmp_path / "1-launch.toml").write_text(LAUNCH)
    (tmp_path / "2-holiday.toml").write_text(HOLIDAY)
    return load_programme(tmp_path)


def the_log(members: int = 12, days: int = 20, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """Purchases with items of every kind, some refunded, some members first seen after
    the change; in time order."""
    rng = random.Random(seed)
    out, at, n = [], T0, 0
    bought: list[tuple[str, str, Decimal]] = []
    while at < T0 + timedelta(days=days):
        at += timedelta(hours=rng.randint(1, 9))
        member = f"m-{rng.randrange(members if at > CHANGE else members // 2)}"
        items = [{"sku": s, "category": c, "quantity": rng.randint(1, 3), "unit_price": p}
                 for s, c, p in rng.sample(ITEMS, rng.randint(0, 3))]  # fmt: skip
        amount = Decimal(rng.randint(500, 9000)) / 100
        n += 1
        pid = f"p{n}"
        out.append((member.encode(), encode(purchase(member, pid, amount, at, items=items))))
        bought.append((member, pid, amount))
        if rng.random() < 0.15:
            who, rpid, paid = rng.choice([b for b in bought if b[0] == member])
            bought.remove((who, rpid, paid))  # each refunded once, by half
            back = (paid / 2).quantize(Decimal("0.01"))
            out.append((who.encode(), encode(refund(who, f"r{n}", rpid, back, at))))
    return out


async def test_a_log_across_a_version_change_gives_one_ledger_whatever_the_batching(
    new_database, tmp_path
):
    programme, log = the_programme(tmp_path), the_log()
    runs = [await undisturbed(await new_database(MIGRATIONS_DIR), log, 3, batch, programme)
            for batch in (1, 13, 1000)]  # fmt: skip
    assert runs[0] == runs[1] == runs[2]
    entries, _ = runs[0]
    earned = [e for e in entries if e[1] == "earned"]
    # (member, kind, delta, balance, available, reference, pid, store, at, lots, version, rules)
    assert {e[10] for e in earned if e[8] < CHANGE} == {"launch"}
    assert {e[10] for e in earned if e[8] >= CHANGE} == {"holiday"}
    assert all(e[11] == [] for e in earned if e[8] < CHANGE)
    used = {rule for e in earned for rule in e[11]}
    assert used == {"meat-3x", "no-gift-cards", "welcome", "big"}
    # Members first seen after the change get the welcome bonus on their first
    # purchase; those who bought before never do.
    firsts: dict[str, tuple] = {}
    for e in earned:
        firsts.setdefault(e[0], e)
    for member, first in firsts.items():
        assert ("welcome" in first[11]) == (first[8] >= CHANGE), member
    assert all("welcome" not in e[11] for e in earned if firsts[e[0]] is not e)


async def test_caps_hold_across_batches_and_the_events_name_version_and_rules(
    points_database, tmp_path
):
    programme = the_programme(tmp_path)
    at = CHANGE + timedelta(hours=1)
    meat = [{"sku": "TURKEY", "category": "meat", "quantity": 1, "unit_price": "20.00"}]
    log = [(b"m-1", encode(purchase("m-1", f"p{n}", "20.00", at + timedelta(days=n),
                                    items=meat))) for n in range(4)]  # fmt: skip
    await undisturbed(points_database, log, 3, 1, programme)  # a batch per purchase
    handler, engine = in_process_handler(points_database, programme)
    try:
        async with handler.uow() as uow:
            rows = [(r.delta, r.rules) for r in await uow.session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.kind == "earned")
                .order_by(LedgerEntryRow.occurred_at))]  # fmt: skip
            events = [json.loads(r.value) for r in await uow.session.scalars(select(OutboxRow))]
    finally:
        await engine.dispose()
    # 20.00 of meat at 3x is 40 extra, and the cap is 40 per 5 days: days 1 to 3 fall in
    # day 0's window and earn only at their tier (pearl, pearl, then ruby as the week's
    # spend grows); day 0 also has the welcome bonus.
    assert rows == [(20 + 40 + 50, ["meat-3x", "welcome"]), (25, []), (25, []), (30, [])]
    earned = [e["data"] for e in events if e["type"] == "loyalty.points.earned.v1"]
    assert (earned[0]["programme_version"], earned[0]["rules"]) == (
        "holiday",
        ["meat-3x", "welcome"],
    )
    assert {d["programme_version"] for d in earned} == {"holiday"}
