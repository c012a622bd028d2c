"""Live mode: a quiet member's tier drops when the wall clock passes the end of the
hold, with no further event on the topic, published once at that moment's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.events import encode, purchase
from tests.support.kafka import payloads, publish, read_all, read_topic
from tests.support.tiers import started, tiers_settings


async def test_the_sweeper_downgrades_by_the_wall_clock(tiers_database, kafka):
    settings = tiers_settings(tiers_database, kafka, clock="wall", sweep_seconds=0.2)
    service = await started(settings)
    try:
        bought = datetime.now(UTC).replace(microsecond=0) - timedelta(days=35, seconds=-6)
        await publish(
            kafka,
            kafka.topics.purchases,
            [(b"m-live", encode(purchase("m-live", "p-live", "100.00", bought)))],
        )
        events = payloads(await read_topic(kafka, kafka.topics.tiers_events, expect=2, timeout=40))
        assert (await service.readiness())["background"]
    finally:
        await service.stop()
    assert [(e["data"]["from_tier"], e["data"]["to_tier"]) for e in events] == [
        ("opal", "diamond"),
        ("diamond", "opal"),
    ]
    down = events[1]
    assert down["data"]["cause"] == "hold_expired"
    assert datetime.fromisoformat(down["time"]) == bought + timedelta(days=35)
    # Nothing was published twice, though the sweeper ran many times: the service has
    # stopped, so the topic holds all it will ever publish.
    again = await read_all(kafka, kafka.topics.tiers_events)
    assert len(again) == 2
