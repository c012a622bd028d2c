"""Counting attempts in a sliding window, to answer abuse with 429 and `Retry-After`.

The counts live in the process: with several replicas, each keeps its own, so a client
spread over N replicas gets up to N times the limit. That bounds guessing and runaway
clients, which is what these limits are for; they are not a quota.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """At most `limit` events per `seconds` for each subject (a client, a member)."""

    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    _events: dict[str, deque[float]] = field(default_factory=dict)
    _max_subjects: int = 100_000

    def retry_after(self, subject: str) -> int | None:
        """Whole seconds until `subject` may act again, or None when it may now."""
        seen = self._recent(subject)
        if seen is None or len(seen) < self.limit:
            return None
        return max(1, math.ceil(seen[0] + self.seconds - self.clock()))

    def record(self, subject: str) -> bool:
        """Count one event; True when this one reaches the limit."""
        seen = self._recent(subject)
        if seen is None:
            self._forget_oldest()
            seen = self._events[subject] = deque()
        seen.append(self.clock())
        return len(seen) == self.limit

    def _recent(self, subject: str) -> deque[float] | None:
        seen = self._events.get(subject)
        if seen is None:
            return None
        # A microsecond of slack: whoever waits the Retry-After given must get through,
        # even when the sums of clock floats round against them (Hypothesis found one).
        horizon = self.clock() - self.seconds + 1e-6
        while seen and seen[0] <= horizon:
            seen.popleft()
        return seen

    def _forget_oldest(self) -> None:
        # A flood of distinct subjects must not grow the process without bound.
        if len(self._events) >= self._max_subjects:
            self._events.pop(next(iter(self._events)))
