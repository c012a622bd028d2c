"""The ledger earning under programme versions and rules: what it records, the member's
history the rules read (first purchase, caps), refunds of rule-earned points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty_kernel.intake.commands import PurchaseLine, RecordPurchase, RecordRefund
from loyalty_kernel.programme import Earnings, PointsLifecycle, Programme, TierPolicy
from loyalty_kernel.programme.model import ProgrammeVersion
from loyalty_points.domain.entries import EntryKind
from loyalty_points.domain.ledger import Ledger
from loyalty_points.domain.lot_book import LotBook

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
AT_ONCE = PointsLifecycle(pending_days=0, expire_after_days=0)
LAUNCH = {"version": "launch"}
HOLIDAY = {
    "version": "holiday",
    "effective_from": "2026-11-10T00:00:00Z",
    "earning": {"rules": [
        {"id": "meat-3x", "multiplier": "3", "match": {"category": ["meat"]}},
        {"id": "no-gift-cards", "multiplier": "0", "match": {"category": ["gift_card"]}},
        {"id": "welcome", "bonus": 50, "first_purchase": True},
        {"id": "big", "bonus": 20, "min_amount": "100", "cap_points": 30, "cap_days": 7},
    ]},
}  # fmt: skip


def versions(*raw: dict) -> Programme:
    parsed = [Programme.model_validate(r) for r in raw]
    history = tuple(ProgrammeVersion(version=p.version, effective_from=p.effective_from,
                                     earning=p.earning) for p in parsed)  # fmt: skip
    return parsed[0].model_copy(update={"history": history})


PROGRAMME = versions(LAUNCH, HOLIDAY)
TIERS, EARN = TierPolicy(PROGRAMME.tiers), Earnings(PROGRAMME)


def ledger(purchased: bool = False) -> Ledger:
    return Ledger("m-1", LotBook("m-1", AT_ONCE), {}, "USD", purchased=purchased)


def buy(pid: str, amount: str, at: datetime, *items: tuple[str, str, int, str]):
    lines = tuple(PurchaseLine(s, c, q, Decimal(p)) for s, c, q, p in items)
    return RecordPurchase(pid, "m-1", "store-1", Decimal(amount), "USD", at, f"e-{pid}", lines)


def test_each_purchase_earns_under_the_version_in_force_at_its_time_and_says_so():
    lg = ledger()
    meat = ("T", "meat", 1, "10.00")
    before = lg.earn(buy("p1", "10.00", T0, meat), TIERS, EARN)
    after = lg.earn(buy("p2", "10.00", T0 + timedelta(days=9), meat), TIERS, EARN)
    assert before is not None
    assert after is not None
    assert (before.delta, before.programme_version, before.rules) == (10, "launch", ())
    assert (after.delta, after.programme_version, after.rules) == (30, "holiday", ("meat-3x",))
    assert lg.new_purchases[1].extras == {"meat-3x": Decimal("20.00")}
    # A purchase that arrives late, stamped before the change, still earns under launch.
    late = lg.earn(buy("p0", "10.00", T0 + timedelta(days=1), meat), TIERS, EARN)
    assert late is not None
    assert (late.delta, late.programme_version) == (10, "launch")


def test_the_first_purchase_bonus_is_the_first_recorded_even_if_it_was_refunded():
    lg = ledger()
    at = T0 + timedelta(days=10)
    first = lg.earn(buy("p1", "10.00", at), TIERS, EARN)
    assert first is not None
    assert (first.delta, first.rules) == (60, ("welcome",))
    back = lg.claw_back(RecordRefund("r1", "p1", "m-1", Decimal("10.00"), "USD", at, "e-r1"))
    assert back is not None
    assert back.delta == -60  # the whole purchase: its bonus too
    second = lg.earn(buy("p2", "10.00", at + timedelta(hours=1)), TIERS, EARN)
    assert second is not None
    assert (second.delta, second.rules) == (10, ())
    # A member whose purchases were all recorded before the ledger was loaded: no bonus.
    known = ledger(purchased=True).earn(buy("p9", "10.00", at), TIERS, EARN)
    assert known is not None
    assert known.rules == ()


def test_a_cap_counts_what_the_rule_gave_the_member_in_the_window():
    lg = ledger(purchased=True)
    at = T0 + timedelta(days=10)
    earned = [lg.earn(buy(f"p{n}", "100.00", at + timedelta(days=n * 3)), TIERS, EARN)
              for n in range(4)]  # fmt: skip
    bonuses = [e.delta - 100 * _multiplier(e.tier) for e in earned if e is not None]
    # Days 0, 3, 6, 9 with 30 per 7 days: 20, 10, 0 (days 0 and 3 in the window), then
    # day 9 sees only day 3's 10 and day 6's nothing.
    assert bonuses == [20, 10, 0, 20]


def test_excluded_lines_earn_nothing_and_a_refund_claws_back_the_share_of_what_was_earned():
    lg = ledger(purchased=True)
    at = T0 + timedelta(days=10)
    entry = lg.earn(buy("p1", "100.00", at, ("GC", "gift_card", 1, "50.00"),
                        ("T", "meat", 1, "50.00")), TIERS, EARN)  # fmt: skip
    assert entry is not None
    assert entry.delta == 150 + 20  # meat 3x, gift card 0, big basket
    assert entry.rules == ("meat-3x", "no-gift-cards", "big")
    back = lg.claw_back(RecordRefund("r1", "p1", "m-1", Decimal("50.00"), "USD", at, "e-r1"))
    assert back is not None
    assert back.delta == -85  # floor(170 x 50 / 100), whatever the lines
    assert [e.kind for e in lg.new_entries] == [EntryKind.EARNED, EntryKind.CLAWED_BACK]


def _multiplier(tier: str | None) -> int:
    level = TIERS.level_named(tier or "opal")
    assert level.multiplier == int(level.multiplier)
    return int(level.multiplier)
