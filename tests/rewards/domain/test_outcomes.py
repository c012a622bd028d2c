"""A settled redemption's outcome: the redemption, or the points service's refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty_rewards.domain.outcomes import Redeemed, Refused, settled
from loyalty_rewards.domain.redemption import Redemption, Status

PENDING = Redemption("rd-1", "m-1", "tree", 200, Status.PENDING, datetime(2026, 11, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "insufficient_points",
            Refused("insufficient_points", "not enough points for this reward"),
        ),
        (
            "negative_balance",
            Refused("negative_balance", "nothing can be redeemed while the balance is negative"),
        ),
        ("frozen", Refused("frozen", "refused: frozen")),
        (None, Refused("refused", "refused: refused")),
    ],
)
def test_a_rejection_is_refused_for_the_points_service_reason(reason, expected):
    assert settled(PENDING.rejected(reason)) == expected


def test_a_confirmed_or_cancelled_redemption_is_redeemed_as_it_stands():
    confirmed = PENDING.confirmed()
    assert settled(confirmed) == Redeemed(confirmed)
    assert settled(confirmed.cancelled()) == Redeemed(confirmed.cancelled())
    assert confirmed.cancelled().status is Status.CANCELLED
