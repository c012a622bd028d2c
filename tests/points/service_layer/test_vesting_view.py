"""What a balance says will be spendable as pending points vest: what rewards
answers `points_pending` with, so it must count out the points that expire first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty_points.service_layer.views import LotView, Vesting, vesting

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def lot(remaining: int, status: str, vests: float, expires: float | None) -> LotView:
    return LotView(f"lot-{vests}-{expires}", "purchase", "p", "s", day(vests - 7), day(vests),
                   None if expires is None else day(expires), remaining, remaining, status)  # fmt: skip


def test_each_vesting_moment_says_what_is_spendable_then_less_what_expired_by_then():
    held = [lot(100, "vested", -5, 2), lot(20, "pending", 1, 300), lot(30, "pending", 3, 300)]
    assert vesting(held, available=100) == [Vesting(20, day(1), 120), Vesting(30, day(3), 50)]


def test_a_debt_is_paid_first_and_lots_vesting_together_are_one_moment():
    held = [lot(10, "pending", 1, 300), lot(4, "pending", 1, None), lot(8, "pending", 2, 300)]
    assert vesting(held, available=-5) == [Vesting(14, day(1), 9), Vesting(8, day(2), 17)]


def test_at_one_instant_points_vest_before_others_expire():
    held = [lot(50, "vested", -300, 1), lot(10, "pending", 1, 300)]
    assert vesting(held, available=50) == [Vesting(10, day(1), 60)]


def test_spent_expired_and_debt_lots_and_expiries_before_the_moment_asked_do_not_count():
    held = [lot(0, "spent", -9, 5), lot(7, "expired", -300, 0.5), lot(-3, "debt", 0, None),
            lot(40, "vested", -9, 0.5), lot(10, "pending", 1, 300)]  # fmt: skip
    # As of day 0.5 the vested lot's expiry has happened: it is not taken off again.
    assert vesting(held, available=0, after=day(0.5)) == [Vesting(10, day(1), 10)]
    assert vesting(held, available=40) == [Vesting(10, day(1), 10)]
