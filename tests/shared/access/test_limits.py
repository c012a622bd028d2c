"""The sliding window behind 429 answers (pure, on a clock the test moves)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loyalty_platform.access.limits import SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_th_attempt_is_the_last_one_let_through() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60, clock)
    reached = []
    for _ in range(3):
        assert window.retry_after("a") is None
        reached.append(window.record("a"))
    assert reached == [False, False, True]
    assert window.retry_after("a") == 60
    assert window.retry_after("b") is None  # subjects are counted apart


def test_retry_after_counts_down_to_when_the_oldest_attempt_leaves() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60, clock)
    window.record("a")
    clock.now += 20
    window.record("a")
    clock.now += 10.5
    assert window.retry_after("a") == 30  # the first attempt leaves at +60
    clock.now += 29.5
    assert window.retry_after("a") is None
    window.record("a")
    assert window.retry_after("a") == 20  # now the second one is the oldest


def test_subjects_beyond_the_bound_forget_the_oldest() -> None:
    window = SlidingWindow(1, 60, Clock(), _max_subjects=3)
    for subject in "abcd":
        window.record(subject)
    assert window.retry_after("a") is None
    assert all(window.retry_after(s) is not None for s in "bcd")


@given(
    limit=st.integers(1, 5),
    seconds=st.integers(1, 100),
    steps=st.lists(st.floats(0, 50, allow_nan=False), max_size=60),
)
def test_no_window_ever_holds_more_than_the_limit(limit, seconds, steps) -> None:
    """Whoever attempts only when told they may never gets more than `limit` attempts
    through in any span of `seconds`; and when refused, waiting `Retry-After` is enough."""
    clock = Clock()
    window = SlidingWindow(limit, seconds, clock)
    admitted: list[float] = []
    for step in steps:
        clock.now += step
        wait = window.retry_after("x")
        if wait is None:
            window.record("x")
            admitted.append(clock.now)
        else:
            clock.now += wait
            assert window.retry_after("x") is None
            window.record("x")
            admitted.append(clock.now)
    for i, start in enumerate(admitted):
        inside = [t for t in admitted[i:] if t < start + seconds]
        assert len(inside) <= limit
