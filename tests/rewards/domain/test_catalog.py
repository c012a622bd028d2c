"""The catalog's rules, pure: who may redeem what now, and why not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from loyalty_rewards.domain.catalog import (
    MAX_STOCK,
    MemberStanding,
    Reward,
    RewardKind,
    StockLimit,
    StockNotCounted,
    refusal,
)
from loyalty_rewards.domain.redemption import Status, new_redemption

NOW = datetime(2026, 11, 20, tzinfo=UTC)
TURKEY = Reward(
    "turkey",
    "Turkey",
    "",
    RewardKind.PHYSICAL,
    150,
    10,
    "diamond",
    1,
    365,
    NOW - timedelta(days=5),
    NOW + timedelta(days=5),
    True,
)
DIAMOND = 3
RICH = MemberStanding("m", 1000, DIAMOND, 0)


def why(reward: Reward = TURKEY, member: MemberStanding = RICH, at: datetime = NOW) -> str | None:
    found = refusal(reward, member, DIAMOND, at)
    return None if found is None else found.code


@pytest.mark.parametrize(
    ("reward", "member", "at", "code"),
    [
        (TURKEY, RICH, NOW, None),
        (replace(TURKEY, active=False), RICH, NOW, "inactive"),
        (TURKEY, RICH, NOW - timedelta(days=6), "not_yet_available"),
        (TURKEY, RICH, NOW + timedelta(days=5), "no_longer_available"),  # the end is exclusive
        (replace(TURKEY, stock=0), RICH, NOW, "out_of_stock"),
        (TURKEY, replace(RICH, tier_rank=2), NOW, "tier_too_low"),
        (TURKEY, replace(RICH, redeemed_in_period=1), NOW, "limit_reached"),
        (TURKEY, replace(RICH, available=-1), NOW, "negative_balance"),
        (TURKEY, replace(RICH, available=149), NOW, "insufficient_points"),
        (TURKEY, replace(RICH, available=150), NOW, None),
        # 100 spendable and 160 once tomorrow's vest: the turkey (150) waits for them.
        (
            TURKEY,
            replace(RICH, available=100, spendable_later=((NOW + timedelta(days=1), 160),)),
            NOW,
            "points_pending",
        ),
        (
            TURKEY,
            replace(RICH, available=100, spendable_later=((NOW + timedelta(days=1), 140),)),
            NOW,
            "insufficient_points",
        ),
        (
            TURKEY,
            replace(RICH, available=-5, spendable_later=((NOW + timedelta(days=1), 495),)),
            NOW,
            "negative_balance",
        ),
        (replace(TURKEY, stock=None), RICH, NOW, None),
    ],
)
def test_each_rule_refuses_with_its_own_reason(reward, member, at, code):
    assert why(reward, member, at) == code


def test_points_pending_says_when_enough_of_them_vest():
    # 20 vest tomorrow; 40 of the 100 spendable expire the day after; 30 and 90 more vest.
    member = replace(RICH, available=100, spendable_later=((NOW + timedelta(days=1), 120),
                                                          (NOW + timedelta(days=3), 110),
                                                          (NOW + timedelta(days=5), 200)))  # fmt: skip
    found = refusal(TURKEY, member, DIAMOND, NOW)
    assert found is not None
    assert found.code == "points_pending"
    assert (NOW + timedelta(days=5)).isoformat() in found.message


def test_the_first_reason_is_the_one_to_act_on():
    # Out of season and out of stock and too poor: the season is what the member sees.
    everything = replace(TURKEY, stock=0)
    assert (
        why(everything, replace(RICH, available=0), NOW + timedelta(days=9))
        == "no_longer_available"
    )


def test_only_coupons_get_a_code_and_codes_do_not_repeat():
    coupon = replace(TURKEY, kind=RewardKind.COUPON)
    codes = {new_redemption(f"rd-{n}", "m", coupon, NOW).coupon_code for n in range(1000)}
    assert len(codes) == 1000
    assert all(code and len(code) >= 20 for code in codes)
    plain = new_redemption("rd-x", "m", TURKEY, NOW)
    assert (plain.coupon_code, plain.status) == (None, Status.PENDING)


def test_a_restock_adds_to_a_counted_stock_and_never_past_the_limit():
    assert TURKEY.restocked(5).stock == 15
    assert TURKEY.restocked(MAX_STOCK - 10).stock == MAX_STOCK
    with pytest.raises(StockLimit, match="10,000,000"):
        TURKEY.restocked(MAX_STOCK - 9)
    with pytest.raises(StockNotCounted, match="turkey has no counted stock"):
        replace(TURKEY, stock=None).restocked(1)
