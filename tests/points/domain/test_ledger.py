"""The ledger's rules, with no database: earning, clawback, duplicates, refusals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.rules import (
    AmbiguousPurchase,
    ConflictingDuplicate,
    MemberMismatch,
    RefundBeforePurchase,
    RefundExceedsPurchase,
    UnknownPurchase,
    WrongCurrency,
)
from loyalty_kernel.programme import Earnings, PointsLifecycle, Programme, TierPolicy
from loyalty_points.domain.entries import AdjustmentRefused, DebitRefused, EntryKind
from loyalty_points.domain.ledger import Ledger
from loyalty_points.domain.lot_book import LotBook

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
TIERS = TierPolicy(Programme().tiers)
EARN = Earnings(Programme())
# Points spendable at once and kept forever: the rules here are about earning and
# clawing back (tests/points/domain/test_lots.py has the lifecycle).
AT_ONCE = PointsLifecycle(pending_days=0, expire_after_days=0)


def ledger(member: str = "m-1") -> Ledger:
    return Ledger(member, LotBook(member, AT_ONCE), {}, "USD")


def buy(pid: str, amount: str, at: datetime = T0, member: str = "m-1", currency: str = "USD"):
    return RecordPurchase(pid, member, "store-1", Decimal(amount), currency, at, f"e-{pid}")


def give_back(rid: str, pid: str, amount: str, at: datetime = T0, member: str = "m-1"):
    return RecordRefund(rid, pid, member, Decimal(amount), "USD", at, f"e-{rid}")  # no store


def test_earning_uses_the_tier_held_just_before_the_purchase():
    lg = ledger()
    first = lg.earn(buy("p1", "120.00"), TIERS, EARN)
    second = lg.earn(buy("p2", "10.00", T0 + timedelta(days=1)), TIERS, EARN)
    assert (first.delta, first.tier) == (120, "opal")
    assert (second.delta, second.tier) == (20, "diamond")
    assert lg.balance == 140 == second.balance_after


def test_a_redelivered_purchase_earns_nothing_more():
    lg = ledger()
    lg.earn(buy("p1", "50.00"), TIERS, EARN)
    assert lg.earn(buy("p1", "50.00"), TIERS, EARN) is None
    assert lg.balance == 50
    assert len(lg.new_entries) == 1


def test_a_receipt_number_another_store_used_too_earns_and_one_at_another_time_is_refused():
    lg = ledger()
    lg.earn(buy("p1", "50.00"), TIERS, EARN)
    other_store = replace(buy("p1", "50.00"), store_id="store-2")
    assert lg.earn(other_store, TIERS, EARN) is not None
    assert lg.balance == 100
    with pytest.raises(ConflictingDuplicate):
        lg.earn(buy("p1", "50.00", T0 + timedelta(hours=1)), TIERS, EARN)


def test_a_purchase_id_reused_with_other_facts_is_refused():
    lg = ledger()
    lg.earn(buy("p1", "50.00"), TIERS, EARN)
    with pytest.raises(ConflictingDuplicate):
        lg.earn(buy("p1", "51.00"), TIERS, EARN)


def test_partial_refunds_claw_back_the_floored_share_and_a_full_refund_all_of_it():
    lg = ledger()
    lg.earn(buy("p1", "10.79"), TIERS, EARN)  # 10 points
    a = lg.claw_back(give_back("r1", "p1", "5.00"))  # floor(10 * 5 / 10.79) = 4
    b = lg.claw_back(give_back("r2", "p1", "5.79"))  # the rest: 10 - 4
    assert (a.delta, b.delta) == (-4, -6)
    assert lg.balance == 0
    assert b.kind is EntryKind.CLAWED_BACK


def test_a_clawback_can_take_the_balance_below_zero():
    lg = ledger()
    lg.earn(buy("p1", "100.00"), TIERS, EARN)
    lg.debit("d1", 80, "reward", T0)  # spent on a reward meanwhile
    lg.claw_back(give_back("r1", "p1", "100.00"))
    assert lg.balance == -80


def test_a_redelivered_refund_takes_nothing_more_and_a_conflicting_one_is_refused():
    lg = ledger()
    lg.earn(buy("p1", "40.00"), TIERS, EARN)
    lg.claw_back(give_back("r1", "p1", "10.00"))
    assert lg.claw_back(give_back("r1", "p1", "10.00")) is None
    with pytest.raises(ConflictingDuplicate):
        lg.claw_back(give_back("r1", "p1", "11.00"))
    assert lg.balance == 30


@pytest.mark.parametrize(
    ("refund", "error"),
    [
        (give_back("r1", "nope", "1.00"), UnknownPurchase),
        (give_back("r1", "p1", "40.01"), RefundExceedsPurchase),
        (give_back("r1", "p1", "1.00", member="m-2"), MemberMismatch),
        (give_back("r1", "p1", "1.00", at=T0 - timedelta(seconds=1)), RefundBeforePurchase),
    ],
)
def test_refunds_that_cannot_be_applied_are_refused_and_change_nothing(refund, error):
    lg = ledger()
    lg.earn(buy("p1", "40.00"), TIERS, EARN)
    with pytest.raises(error):
        lg.claw_back(refund)
    assert lg.balance == 40
    assert lg.purchases[("store-1", "p1")].refunds == []


def test_a_refund_names_its_purchase_by_store_and_without_one_only_an_unshared_id():
    lg = ledger()
    lg.earn(buy("p1", "40.00"), TIERS, EARN)
    lg.earn(replace(buy("p1", "60.00"), store_id="store-2"), TIERS, EARN)
    lg.earn(buy("p2", "20.00"), TIERS, EARN)
    with pytest.raises(AmbiguousPurchase):
        lg.claw_back(give_back("r1", "p1", "10.00"))
    at_two = replace(give_back("r1", "p1", "30.00"), store_id="store-2")
    second = lg.purchases[("store-2", "p1")]
    assert lg.claw_back(at_two).delta == -(second.points_earned // 2)
    assert second.refunded == Decimal("30.00")
    assert lg.purchases[("store-1", "p1")].refunded == 0
    assert lg.claw_back(give_back("r1", "p2", "5.00")) is not None  # p2's own r1
    assert lg.purchases[("store-1", "p2")].refunded == Decimal("5.00")
    with pytest.raises(UnknownPurchase):
        lg.claw_back(replace(give_back("r2", "p2", "1.00"), store_id="store-9"))


def test_a_purchase_in_another_currency_is_refused():
    with pytest.raises(WrongCurrency):
        ledger().earn(buy("p1", "10.00", currency="EUR"), TIERS, EARN)


def test_a_refund_at_the_purchase_moment_counts_for_the_next_purchase_tier():
    lg = ledger()
    lg.earn(buy("p1", "100.00"), TIERS, EARN)
    lg.claw_back(give_back("r1", "p1", "100.00", T0 + timedelta(hours=1)))
    later = lg.earn(buy("p2", "10.00", T0 + timedelta(hours=2)), TIERS, EARN)
    assert later.tier == "opal"


operations = st.lists(
    st.tuples(st.booleans(), st.integers(0, 30), st.integers(1, 20_000), st.integers(0, 48)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_the_balance_always_equals_the_sum_of_the_entries(ops):
    lg = ledger()
    at = T0
    for is_purchase, n, cents, hours in ops:
        at += timedelta(hours=hours)
        amount = str(Decimal(cents) / 100)
        try:
            if is_purchase:
                lg.earn(buy(f"p{n}", amount, at), TIERS, EARN)
            else:
                lg.claw_back(give_back(f"r{len(lg.new_refunds)}", f"p{n}", amount, at))
        except (UnknownPurchase, RefundExceedsPurchase, ConflictingDuplicate):
            pass
        assert lg.balance == sum(e.delta for e in lg.new_entries)
        for p in lg.purchases.values():
            assert 0 <= p.clawed_back <= p.points_earned
            assert p.refunded <= p.amount


def test_a_debit_never_goes_below_zero_and_a_restore_puts_it_back():
    lg = ledger()
    lg.earn(buy("p1", "100.00"), TIERS, EARN)
    with pytest.raises(DebitRefused) as refused:
        lg.debit("d0", 101, "r0", T0)
    assert refused.value.reason == "insufficient_points"
    debit = lg.debit("d1", 100, "r1", T0)
    assert (debit.balance_after, lg.balance) == (0, 0)
    restored = lg.restore(debit, T0 + timedelta(hours=1))
    assert (restored.restored_at, lg.balance) == (T0 + timedelta(hours=1), 100)
    assert [e.kind for e in lg.new_entries] == [
        EntryKind.EARNED, EntryKind.REDEEMED, EntryKind.RESTORED
    ]  # fmt: skip


def test_nothing_can_be_spent_while_the_balance_is_negative():
    lg = ledger()
    lg.adjust("a-1", -5, "a correction", "ops_1", T0)
    lg.new_entries.clear()
    with pytest.raises(DebitRefused) as refused:
        lg.debit("d1", 1, "r1", T0)
    assert refused.value.reason == "negative_balance"
    assert lg.new_entries == []


def test_an_adjustment_moves_the_balance_either_way_and_records_who_and_why():
    account = ledger()
    account.earn(buy("p1", "30.00"), TIERS, EARN)
    credit = account.adjust("a-1", 20, "late delivery", "ops_1", T0)
    debit = account.adjust("a-2", -70, "earned on a voided sale", "ops_1", T0)
    assert (credit.balance_after, debit.balance_after, account.balance) == (50, -20, -20)
    assert [(e.kind, e.delta, e.reference) for e in account.new_entries[1:]] == [
        (EntryKind.ADJUSTED, 20, "a-1"), (EntryKind.ADJUSTED, -70, "a-2")]  # fmt: skip
    assert (debit.reason, debit.actor) == ("earned on a voided sale", "ops_1")


@pytest.mark.parametrize(("points", "reason"), [(0, "x"), (1_000_001, "x"), (-1_000_001, "x"),
                                                (5, "  ")])  # fmt: skip
def test_an_adjustment_of_nothing_too_much_or_without_reason_is_refused(points, reason):
    account = ledger()
    with pytest.raises(AdjustmentRefused):
        account.adjust("a-1", points, reason, "ops_1", T0)
    assert (account.balance, account.new_entries) == (0, [])


def test_buying_into_a_tier_and_refunding_the_qualifying_purchase_keeps_only_the_bonus():
    """The farming attempt: 100.00 to reach diamond, 40.00 at diamond's 2.0, then the
    100.00 refunded. The refund takes back all 100 points it earned and the tier with it
    (the next purchase earns at pearl, which the 40.00 alone qualifies for); what stays
    is diamond's bonus on the 40.00 actually kept: 40 points. Refunding the 40.00 too
    takes back its 80, leaving nothing gained."""
    lg = ledger()
    lg.earn(buy("q", "100.00"), TIERS, EARN)
    bonus = lg.earn(buy("k", "40.00", T0 + timedelta(hours=1)), TIERS, EARN)
    lg.claw_back(give_back("rq", "q", "100.00", T0 + timedelta(hours=2)))
    after = lg.earn(buy("a", "10.00", T0 + timedelta(hours=3)), TIERS, EARN)

    assert (bonus.delta, bonus.tier) == (80, "diamond")
    assert (after.delta, after.tier) == (12, "pearl")
    honest = 40 + 12  # the same two kept purchases without the 100.00 bought and returned
    assert lg.balance - honest == 40
    lg.claw_back(give_back("rk", "k", "40.00", T0 + timedelta(hours=4)))
    assert lg.balance == 12


@settings(max_examples=200, deadline=None)
@given(
    st.integers(10_000, 50_000),  # the qualifying purchase, in cents
    st.lists(st.integers(100, 9_999), min_size=1, max_size=5),  # bought at the tier
)
def test_farming_a_tier_gains_at_most_its_bonus_on_what_is_kept(qualifying, kept):
    lg = ledger()
    earned = lg.earn(buy("q", str(Decimal(qualifying) / 100)), TIERS, EARN)
    at = T0
    for n, cents in enumerate(kept):
        at += timedelta(minutes=10)
        lg.earn(buy(f"k{n}", str(Decimal(cents) / 100), at), TIERS, EARN)
    taken = lg.claw_back(give_back("rq", "q", str(Decimal(qualifying) / 100), at))
    top = max(level.multiplier for level in TIERS.levels)
    assert taken.delta == -earned.delta  # all the qualifying purchase earned comes back
    assert 0 <= lg.balance <= int(Decimal(sum(kept)) / 100 * top)  # the rest: kept spend
