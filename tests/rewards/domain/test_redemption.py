"""When an unanswered redemption is tried again: soon at first, then less and less often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty_rewards.domain.redemption import LAST_RETRY, next_attempt

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def test_the_waits_double_from_five_seconds() -> None:
    waits = [next_attempt(n, NOW) - NOW for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (5, 10, 20, 40, 80)]


@given(st.integers(min_value=1, max_value=10_000))
def test_the_wait_never_shrinks_and_never_passes_an_hour(attempts: int) -> None:
    wait = next_attempt(attempts, NOW) - NOW
    assert timedelta(seconds=5) <= wait <= LAST_RETRY == timedelta(hours=1)
    assert next_attempt(attempts + 1, NOW) - NOW >= wait
