"""The lot rules, with no database: vesting, spending order, clawbacks, debt, restores,
expiry, checked against the plain model in tests/support/lots_reference.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.rules import RefundExceedsPurchase, UnknownPurchase
from loyalty_kernel.programme import Earnings, PointsLifecycle, Programme, TierPolicy
from loyalty_points.domain.entries import DebitRefused, EntryKind, LedgerEntry
from loyalty_points.domain.ledger import Ledger
from loyalty_points.domain.lot_book import LotBook
from loyalty_points.domain.lots import LotSource, LotStatus
from loyalty_points.domain.lots_from_history import WrittenEntry, replay
from tests.support.lots_reference import ReferenceLots

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
TIERS = TierPolicy(Programme().tiers)
EARN = Earnings(Programme())
SHORT = PointsLifecycle(pending_days=7, expire_after_days=60, expiring_soon_days=10)


def ledger(lifecycle: PointsLifecycle = SHORT) -> Ledger:
    return Ledger("m-1", LotBook("m-1", lifecycle), {}, "USD")


def buy(lg: Ledger, pid: str, amount: str, at: datetime) -> LedgerEntry | None:
    lg.settle(at)
    cmd = RecordPurchase(pid, "m-1", "s-1", Decimal(amount), "USD", at, f"e-{pid}")
    return lg.earn(cmd, TIERS, EARN)


def refund(lg: Ledger, rid: str, pid: str, amount: str, at: datetime) -> LedgerEntry | None:
    lg.settle(at)
    return lg.claw_back(RecordRefund(rid, pid, "m-1", Decimal(amount), "USD", at, rid))


def kinds(lg: Ledger) -> list[str]:
    return [e.kind.value for e in lg.new_entries]


def test_a_purchase_is_pending_until_it_vests_exactly_at_vests_at():
    lg = ledger()
    earned = buy(lg, "p1", "40.00", T0)
    assert earned is not None
    assert earned.lot is not None
    assert (earned.lot.vests_at, earned.lot.expires_at) == (T0 + timedelta(7), T0 + timedelta(60))
    assert (lg.available, lg.book.pending, earned.available_after) == (0, 40, 0)
    lg.settle(T0 + timedelta(days=7, microseconds=-1))
    assert lg.available == 0
    with pytest.raises(DebitRefused) as refused:
        lg.debit("d1", 10, "r", T0 + timedelta(days=1))
    assert (refused.value.reason, refused.value.vests_at) == ("points_pending", T0 + timedelta(7))
    lg.settle(T0 + timedelta(days=7))
    assert (lg.available, lg.book.pending, kinds(lg)) == (40, 0, ["earned", "vested"])
    lg.debit("d1", 10, "r", T0 + timedelta(days=7))
    assert lg.available == 30


def test_the_warning_comes_once_exactly_expiring_soon_days_before_and_the_rest_expires():
    lg = ledger()
    buy(lg, "p1", "40.00", T0)
    warn_at = T0 + timedelta(days=50)
    lg.settle(warn_at - timedelta(microseconds=1))
    assert kinds(lg) == ["earned", "vested"]
    lg.settle(warn_at)
    lg.settle(warn_at + timedelta(days=1))
    warned = lg.new_entries[-1]
    assert (warned.kind, warned.occurred_at, warned.delta) == (EntryKind.EXPIRING_SOON, warn_at, 0)
    assert warned.lot is not None
    assert warned.lot.points == 40
    lg.debit("d1", 15, "r", warn_at)
    lg.settle(T0 + timedelta(days=60, microseconds=-1))
    assert lg.available == 25
    lg.settle(T0 + timedelta(days=60))
    expired = lg.new_entries[-1]
    assert (expired.kind, expired.delta, expired.occurred_at) == (
        "expired",
        -25,
        T0 + timedelta(60),
    )
    assert (lg.balance, lg.available) == (0, 0)
    assert [lot.status for lot in lg.book.lots.values()] == [LotStatus.EXPIRED]


def test_spending_takes_the_soonest_expiring_lot_first():
    lg = ledger()
    buy(lg, "old", "10.00", T0)
    buy(lg, "new", "30.00", T0 + timedelta(days=3))
    lg.settle(T0 + timedelta(days=11))
    debit = lg.debit("d1", 15, "r", T0 + timedelta(days=11))
    by_source = {lot.lot_id: lot.reference for lot in lg.book.lots.values()}
    assert [(by_source[lot], points) for lot, points in debit.lots] == [("old", -10), ("new", -5)]


def test_a_clawback_comes_from_its_own_pending_lot_first_then_spendable_lots_then_debt():
    lg = ledger()
    buy(lg, "a", "50.00", T0)
    lg.settle(T0 + timedelta(days=7))
    buy(lg, "b", "10.00", T0 + timedelta(days=8))  # 15 points at ruby, pending
    lg.debit("d1", 45, "r", T0 + timedelta(days=8))
    taken = refund(lg, "r1", "b", "10.00", T0 + timedelta(days=9))
    assert taken is not None
    assert taken.delta == -15
    assert (lg.available, lg.book.pending) == (5, 0)  # all of it from b's own lot
    taken = refund(lg, "r2", "a", "50.00", T0 + timedelta(days=9))
    assert taken is not None
    assert (lg.balance, lg.available, lg.book.debt) == (-45, -45, 45)
    with pytest.raises(DebitRefused, match="balance is -45"):
        lg.debit("d2", 1, "r", T0 + timedelta(days=9))
    buy(lg, "c", "60.00", T0 + timedelta(days=10))
    assert (lg.balance, lg.available, lg.book.pending) == (15, -45, 60)
    lg.settle(T0 + timedelta(days=17))
    assert (lg.balance, lg.available, lg.book.pending, lg.book.debt) == (15, 15, 0, 0)


def test_restored_points_go_back_to_their_lots_and_a_part_whose_lot_expired_expires_at_once():
    lg = ledger()
    buy(lg, "a", "10.00", T0)
    buy(lg, "b", "20.00", T0 + timedelta(days=30))
    lg.settle(T0 + timedelta(days=37))
    debit = lg.debit("d1", 25, "r", T0 + timedelta(days=37))
    lg.settle(T0 + timedelta(days=61))  # a has expired (with nothing left in it)
    lg.restore(debit, T0 + timedelta(days=61))
    restored, lapsed = lg.new_entries[-2:]
    assert (restored.kind, restored.delta, lapsed.kind, lapsed.delta) == (
        "restored", 25, "expired", -10)  # fmt: skip
    assert lg.balance == lg.available == 20
    a_lot = next(lot for lot in lg.book.lots.values() if lot.reference == "a")
    assert (a_lot.status, a_lot.remaining) == (LotStatus.EXPIRED, 0)


def test_with_nothing_pending_points_pay_on_the_spot_and_with_no_expiry_they_never_expire():
    lg = ledger(PointsLifecycle(pending_days=0, expire_after_days=0))
    earned = buy(lg, "p1", "40.00", T0)
    assert earned is not None
    assert earned.lot is not None
    assert (earned.lot.expires_at, lg.available, lg.next_moment()) == (None, 40, None)
    lg.settle(T0 + timedelta(days=5000))
    assert kinds(lg) == ["earned"]


def test_a_positive_adjustment_is_a_lot_spendable_at_once_that_pays_any_debt_first():
    lg = ledger()
    buy(lg, "a", "50.00", T0)
    lg.settle(T0 + timedelta(days=7))
    lg.debit("d1", 50, "r", T0 + timedelta(days=7))
    refund(lg, "r1", "a", "50.00", T0 + timedelta(days=8))
    assert lg.book.debt == 50
    lg.adjust("adj-1", 80, "goodwill", "ops", T0 + timedelta(days=8))
    adjusted = lg.new_entries[-1]
    assert (lg.available, lg.book.debt, adjusted.available_delta) == (30, 0, 80)
    lot = next(x for x in lg.book.lots.values() if x.source is LotSource.ADJUSTMENT)
    assert (lot.remaining, lot.vests_at) == (30, T0 + timedelta(days=8))


# Any interleaving, against the reference

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, 9), st.integers(100, 9_000)),
        st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 9_000)),
        st.tuples(st.just("spend"), st.integers(1, 200)),
        st.tuples(st.just("cancel"), st.integers(0, 5)),
        st.tuples(st.just("adjust"), st.integers(-150, 150).filter(bool)),
    ).flatmap(lambda op: st.tuples(st.just(op), st.integers(0, 24 * 12))),
    max_size=40,
)
LIFECYCLES = st.sampled_from(
    [SHORT, PointsLifecycle(pending_days=0, expire_after_days=30, expiring_soon_days=0),
     PointsLifecycle(pending_days=3, expire_after_days=0), PointsLifecycle()]
)  # fmt: skip


def lot_keys(lg: Ledger) -> dict[str, str]:
    prefix = {LotSource.PURCHASE: "p:", LotSource.ADJUSTMENT: "a:"}
    return {
        lot.lot_id: "debt" if lot.is_debt else prefix[lot.source] + lot.reference
        for lot in lg.book.lots.values()
    }


def seen(lg: Ledger) -> list[tuple]:
    keys = lot_keys(lg)
    return [
        (e.kind.value, e.occurred_at, e.delta, e.balance_after, e.available_after,
         {keys[lot]: p for lot, p in e.lots})
        for e in lg.new_entries
    ]  # fmt: skip


def expected(ref: ReferenceLots) -> list[tuple]:
    return [(e.kind, e.at, e.delta, e.balance_after, e.available_after, e.moved)
            for e in ref.entries]  # fmt: skip


def apply(lg: Ledger, ref: ReferenceLots, debits: dict, op: tuple, at: datetime, n: int) -> None:
    lg.settle(at)
    ref.pass_time(at)
    kind = op[0]
    if kind == "buy":
        entry = buy(lg, f"p{n}", str(Decimal(op[2]) / 100), at)
        if entry is not None:
            ref.earn(f"p{n}", at, entry.delta)
    elif kind == "refund":
        bought = [p for p in lg.purchases.values() if p.refunded < p.amount]
        if not bought:
            return
        purchase = bought[op[1] % len(bought)]
        amount = min(Decimal(op[2]) / 100, purchase.amount - purchase.refunded)
        try:
            entry = refund(lg, f"r{n}", purchase.purchase_id, str(amount), at)
        except (UnknownPurchase, RefundExceedsPurchase):
            return
        if entry is not None:
            ref.claw_back(purchase.purchase_id, at, -entry.delta)
    elif kind == "spend":
        why = ref.spend(f"d{n}", at, op[1])
        refused = None
        try:
            debits[f"d{n}"] = lg.debit(f"d{n}", op[1], "r", at)
        except DebitRefused as no:
            refused = no.reason
        assert refused == why
    elif kind == "cancel":
        open_debits = sorted(ref.taken_by)
        if open_debits:
            debit_id = open_debits[op[1] % len(open_debits)]
            lg.restore(debits.pop(debit_id), at)
            ref.restore(debit_id, at)
    else:
        lg.adjust(f"adj{n}", op[1], "by hand", "ops", at)
        ref.adjust(f"adj{n}", at, op[1])


@settings(max_examples=300, deadline=None)
@given(LIFECYCLES, OPS, st.integers(0, 24 * 400))
def test_any_interleaving_gives_the_references_lots_entries_balance_and_available(
    lifecycle, ops, tail_hours
):
    lg = ledger(lifecycle)
    ref = ReferenceLots(
        lifecycle.pending_days, lifecycle.expire_after_days, lifecycle.expiring_soon_days
    )
    debits: dict = {}
    at = T0
    for n, (op, hours) in enumerate(ops):
        at += timedelta(hours=hours)
        apply(lg, ref, debits, op, at, n)
        assert seen(lg) == expected(ref)
    lg.settle(at + timedelta(hours=tail_hours))
    ref.pass_time(at + timedelta(hours=tail_hours))
    assert seen(lg) == expected(ref)
    # The balance is the sum of the entries and the sum of the lots' remainders.
    assert lg.balance == sum(e.delta for e in lg.new_entries) == ref.balance()
    assert lg.balance == sum(lot.remaining for lot in lg.book.lots.values())
    assert (lg.available, lg.book.pending) == (ref.available(), ref.pending())
    assert lg.available == sum(e.available_delta for e in lg.new_entries)
    keys = lot_keys(lg)
    for lot in lg.book.lots.values():
        if not lot.is_debt:
            twin = ref.lot(keys[lot.lot_id])
            assert twin is not None
            assert (lot.remaining, lot.expired) == (twin.left, twin.expired)
    # Whatever happened, each entry's allocations add up to its change of balance.
    assert all(sum(p for _, p in e.lots) == e.delta for e in lg.new_entries)


def test_a_replayed_redemption_of_pending_points_goes_back_to_their_lot_when_cancelled():
    """A ledger from before lots: 100 earned, 60 redeemed while (now) pending."""
    written = [WrittenEntry("earned", 100, "p1", "p1", "s-1", "opal", T0),
               WrittenEntry("redeemed", -60, "d1", None, None, None, T0 + timedelta(days=3))]  # fmt: skip
    done = replay("m-1", written, SHORT, "USD")
    lg, debit = done.ledger, done.debits["d1"]
    lg.settle(T0 + timedelta(days=11))  # p1 vested on day 7
    lg.restore(debit, T0 + timedelta(days=11))
    assert (lg.balance, lg.available, lg.book.debt) == (100, 100, 0)
    spent = lg.debit("d2", 100, "r", T0 + timedelta(days=11))
    assert sum(p for _, p in spent.lots) == -100
    assert lg.balance == sum(lot.remaining for lot in lg.book.lots.values()) == 0
    assert lg.balance == sum(e.delta for e in lg.new_entries)


def test_a_restore_whose_lot_expired_counts_in_the_balance_until_its_expiry_entry():
    lg = ledger()
    buy(lg, "a", "50.00", T0)
    lg.settle(T0 + timedelta(days=7))
    debit = lg.debit("d1", 50, "r", T0 + timedelta(days=7))
    lg.adjust("a2", 20, "goodwill", "ops", T0 + timedelta(days=59))
    lg.settle(T0 + timedelta(days=70))
    lg.restore(debit, T0 + timedelta(days=70))
    restored, lapsed = lg.new_entries[-2:]
    assert (restored.delta, restored.balance_after, lapsed.delta, lapsed.balance_after) == (
        50, 70, -50, 20)  # fmt: skip
    assert (restored.available_after, lapsed.available_after) == (20, 20)


def test_points_pending_counts_out_what_expires_before_enough_vests():
    lg = ledger()
    buy(lg, "old", "30.00", T0)
    buy(lg, "new", "15.00", T0 + timedelta(days=55))  # opal again by then: 15 points
    lg.settle(T0 + timedelta(days=56))
    assert (lg.available, lg.book.pending) == (30, 15)
    # 40 asked: "old" (30) expires on day 60, before "new" vests on day 62.
    with pytest.raises(DebitRefused) as refused:
        lg.debit("d1", 40, "r", T0 + timedelta(days=56))
    assert refused.value.reason == "insufficient_points"
    buy(lg, "newer", "50.00", T0 + timedelta(days=56))  # vests on day 63
    with pytest.raises(DebitRefused) as refused:
        lg.debit("d2", 60, "r", T0 + timedelta(days=56))
    assert (refused.value.reason, refused.value.vests_at) == (
        "points_pending", T0 + timedelta(days=63))  # fmt: skip
