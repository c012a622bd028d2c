"""An outcome kept under an idempotency key comes back as it went in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty_rewards.adapters.idempotency import dump_outcome, load_outcome
from loyalty_rewards.domain.outcomes import Redeemed, Refused
from loyalty_rewards.domain.redemption import Redemption, Status

AT = datetime(2026, 11, 1, 12, 0, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "outcome",
    [
        Redeemed(Redemption("rd-1", "m-1", "coffee", 40, Status.CONFIRMED, AT, "code")),
        Redeemed(Redemption("rd-2", "m-1", "tree", 200, Status.CANCELLED, AT)),
        Refused("unknown_reward", "no reward nope", missing=True),
        Refused("insufficient_points", "not enough points for this reward"),
    ],
)
def test_an_outcome_survives_its_json(outcome):
    kind, data = dump_outcome(outcome)
    assert load_outcome(kind, data) == outcome
    assert load_outcome(*dump_outcome(outcome)).__class__ is outcome.__class__


def test_an_unknown_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="pending"):
        load_outcome("pending", {})
