from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty_kernel.programme import EarningPolicy, Programme, clawback_total
from loyalty_kernel.programme.model import EarningSettings

RULE = EarningPolicy(Programme().versions[0])


def test_points_are_floored_after_the_multiplier():
    assert RULE.points_for(Decimal("123.45"), Decimal("1.0")) == 123
    assert RULE.points_for(Decimal("10.79"), Decimal("1.25")) == 13  # 13.4875
    assert RULE.points_for(Decimal("0.99"), Decimal("1.0")) == 0
    assert RULE.points_for(Decimal("33.33"), Decimal("1.5")) == 49  # 49.995
    doubled = Programme(earning=EarningSettings(points_per_unit=Decimal(2)))
    assert EarningPolicy(doubled.versions[0]).points_for(Decimal("10.50"), Decimal("2.0")) == 42


def test_clawback_is_the_refunded_share_floored():
    assert clawback_total(100, Decimal("33.33"), Decimal("100.00")) == 33
    assert clawback_total(13, Decimal("5.00"), Decimal("10.79")) == 6  # 6.02...
    assert clawback_total(13, Decimal("10.79"), Decimal("10.79")) == 13


cents = st.integers(min_value=1, max_value=100_000_000)


@given(
    cents,
    st.lists(st.integers(1, 100), min_size=1, max_size=6),
    st.sampled_from(["1.0", "1.25", "1.5", "2.0"]),
)
def test_refunds_in_parts_take_back_exactly_what_was_earned(amount_cents, shares, multiplier):
    amount = Decimal(amount_cents) / 100
    earned = RULE.points_for(amount, Decimal(multiplier))
    refunded, taken = Decimal(0), 0
    for share in shares:
        part = ((amount - refunded) * share / 100).quantize(Decimal("0.01"))
        refunded += part
        total = clawback_total(earned, refunded, amount)
        assert total >= taken  # never gives points back
        taken = total
    taken = clawback_total(earned, amount, amount)
    assert taken == earned
