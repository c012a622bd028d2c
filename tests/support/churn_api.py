"""Feeding the churn watch's handler directly, and the shoppers its API tests share."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from loyalty_kernel.messages import InboundMessage
from tests.support.events import encode, purchase

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


async def feed(service: Any, *events: dict[str, Any], topic: str | None = None) -> None:
    """Through the handler, as consumed messages on one partition, after those fed before."""
    name = topic or service.settings.kafka.topics.purchases
    offsets = service.__dict__.setdefault("test_offsets", defaultdict(int))
    batch = []
    for e in events:
        batch.append(
            InboundMessage(name, 0, offsets[name], e["subject"].encode(), encode(e), 0, "log-1")
        )
        offsets[name] += 1
    await service.handler.apply(service.runner.translate(batch))


def weekly(member: str, amount: str, weeks: range) -> list[dict[str, Any]]:
    return [purchase(member, f"{member}-p{w}", amount, START + w * WEEK) for w in weeks]


LAPSER_LAST = START + 51 * WEEK


async def shoppers(service: Any) -> None:
    """A lapser (weekly for a year, then gone), a regular (weekly for two years)."""
    events = weekly("lapser", "40.00", range(52)) + weekly("regular", "20.00", range(104))
    events.sort(key=lambda e: e["time"])
    await feed(service, *events)
