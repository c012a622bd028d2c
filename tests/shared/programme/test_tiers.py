"""The tier rule against the plain reference in tests/support, and at its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.programme import Programme, QualifyingPurchase, TierPolicy
from tests.support.programme import ReferencePurchase, tier_as_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = TierPolicy(Programme().tiers)


def bought(at: datetime, amount: str, *refunds: tuple[datetime, str]) -> QualifyingPurchase:
    return QualifyingPurchase(at, Decimal(amount), tuple((t, Decimal(a)) for t, a in refunds))


def tier(purchases: list[QualifyingPurchase], at: datetime) -> str:
    return POLICY.tier_as_of(purchases, at).name


def test_a_new_member_holds_the_lowest_tier():
    assert tier([], T0) == "opal"


def test_exactly_each_threshold_reaches_the_tier():
    for amount, name in [("19.99", "opal"), ("20", "pearl"), ("49.99", "pearl"),
                         ("50", "ruby"), ("99.99", "ruby"), ("100", "diamond")]:  # fmt: skip
        assert tier([bought(T0, amount)], T0) == name


def test_the_window_holds_purchases_less_than_seven_days_apart():
    first = bought(T0, "60")
    assert (
        tier([first, bought(T0 + 7 * DAY - timedelta(seconds=1), "40")], T0 + 7 * DAY) == "diamond"
    )
    # Exactly seven days later the first purchase has left the window (s - 7 days, s].
    assert POLICY.window_spend([first, bought(T0 + 7 * DAY, "40")], T0 + 7 * DAY) == Decimal(40)
    assert tier([first, bought(T0 + 7 * DAY, "40")], T0 + 7 * DAY) == "ruby"


def test_a_tier_is_held_for_exactly_28_days_after_the_last_qualifying_moment():
    # 100 spent at T0 qualifies until the purchase leaves the window at T0 + 7 days.
    history = [bought(T0, "100")]
    last_qualified = T0 + 7 * DAY - timedelta(microseconds=1)
    assert tier(history, last_qualified + 28 * DAY) == "diamond"
    assert tier(history, last_qualified + 28 * DAY + timedelta(microseconds=1)) == "opal"


def test_each_tier_is_held_from_its_own_last_qualifying_moment():
    # Diamond while both purchases are in the window (until T0 + 7 days), ruby one day longer.
    history = [bought(T0, "50"), bought(T0 + DAY, "50")]
    assert tier(history, T0 + 35 * DAY - timedelta(seconds=1)) == "diamond"
    assert tier(history, T0 + 35 * DAY) == "ruby"
    assert tier(history, T0 + 36 * DAY - timedelta(seconds=1)) == "ruby"
    assert tier(history, T0 + 36 * DAY) == "opal"


def test_a_refund_lowers_its_purchase_from_when_it_is_known():
    refunded = bought(T0, "100", (T0 + DAY, "100"))
    assert tier([refunded], T0 + timedelta(hours=1)) == "diamond"
    assert tier([refunded], T0 + DAY) == "opal"


def test_returning_an_old_purchase_leaves_the_current_window_alone():
    old = bought(T0, "30", (T0 + 200 * DAY, "30"))
    recent = bought(T0 + 199 * DAY, "100")
    assert tier([old, recent], T0 + 200 * DAY) == "diamond"


def test_tier_before_ignores_the_purchase_itself_and_later_ones():
    history = [bought(T0, "10"), bought(T0 + DAY, "100"), bought(T0 + 2 * DAY, "500")]
    assert POLICY.tier_before(history, T0 + DAY).name == "opal"
    assert POLICY.tier_before(history, T0 + 2 * DAY).name == "diamond"


moments = st.integers(min_value=0, max_value=120 * 24).map(lambda h: T0 + timedelta(hours=h))
amounts = st.integers(min_value=1, max_value=12_000).map(lambda c: Decimal(c) / 100)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[datetime, Decimal, list[tuple[datetime, Decimal]]]]:
    result = []
    for at, amount in draw(st.lists(st.tuples(moments, amounts), max_size=12)):
        refunds, left = [], amount
        for later, share in draw(st.lists(st.tuples(moments, st.integers(1, 100)), max_size=2)):
            part = (left * share / 100).quantize(Decimal("0.01"))
            if part > 0 and later >= at:
                refunds.append((later, part))
                left -= part
        result.append((at, amount, refunds))
    return result


@settings(max_examples=300, deadline=None)
@given(histories(), moments)
def test_tier_as_of_matches_the_reference(history, at):
    ours = [QualifyingPurchase(t, a, tuple(r)) for t, a, r in history]
    reference = [ReferencePurchase(t, a, list(r)) for t, a, r in history]
    assert POLICY.tier_as_of(ours, at).name == tier_as_of(reference, at)


@settings(max_examples=100, deadline=None)
@given(histories(), moments, st.integers(0, 40 * 24))
def test_without_new_purchases_a_tier_never_rises_as_time_passes(history, at, hours):
    ours = [QualifyingPurchase(t, a, tuple(r)) for t, a, r in history if t <= at]
    known = [QualifyingPurchase(p.occurred_at, p.amount, tuple(x for x in p.refunds if x[0] <= at))
             for p in ours]  # fmt: skip
    later = at + timedelta(hours=hours)
    assert POLICY.tier_as_of(known, later).threshold <= POLICY.tier_as_of(known, at).threshold


def test_a_tier_drops_hold_days_after_its_last_qualifying_moment():
    assert POLICY.drops_at([bought(T0, "100")], T0) == T0 + 35 * DAY
    two_steps = [bought(T0, "50"), bought(T0 + DAY, "50")]
    assert POLICY.drops_at(two_steps, T0 + DAY) == T0 + 35 * DAY  # diamond, then ruby
    assert POLICY.drops_at(two_steps, T0 + 35 * DAY) == T0 + 36 * DAY  # ruby, then opal
    assert POLICY.drops_at([bought(T0, "19.99")], T0) is None


def test_a_refund_known_now_moves_the_drop_earlier():
    partly = bought(T0, "60", (T0 + DAY, "20"))
    with_later = [partly, bought(T0 + 3 * DAY, "60")]
    # Known refund: 40 + 60 = 100 from day 3 until the first purchase leaves at day 7.
    assert POLICY.drops_at(with_later, T0 + 3 * DAY) == T0 + 35 * DAY
    assert POLICY.drops_at([bought(T0, "60", (T0 + DAY, "45"))], T0 + DAY) is None


@settings(max_examples=200, deadline=None)
@given(histories(), moments)
def test_the_drop_is_the_first_moment_the_reference_tier_falls(history, at):
    known = [
        ReferencePurchase(t, a, [x for x in r if x[0] <= at]) for t, a, r in history if t <= at
    ]
    ours = [QualifyingPurchase(p.at, p.amount, tuple(p.refunds)) for p in known]
    held = tier_as_of(known, at)
    drop = POLICY.drops_at(ours, at)
    if held == "opal":
        assert drop is None
        return
    assert drop is not None
    assert drop > at
    assert tier_as_of(known, drop - timedelta(microseconds=1)) == held
    assert tier_as_of(known, drop) != held
