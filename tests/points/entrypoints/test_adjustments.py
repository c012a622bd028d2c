"""Adjusting points by hand over the points API, on the real database and broker: the
reason and the actor are recorded, retries are safe, concurrent adjustments all count."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import AdjustmentRow
from loyalty_points.entrypoints.app import create_app
from tests.points.entrypoints.test_spending import balance_and_entries, feed
from tests.support.access import issue_key, key_header
from tests.support.events import purchase
from tests.support.kafka import payloads, read_topic
from tests.support.points import points_settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def app(points_database: str, kafka: KafkaSettings) -> AsyncIterator[tuple]:
    application = create_app(points_settings(points_database, kafka), consume=False)
    ops = await issue_key(points_database, scopes=frozenset({"points:adjust"}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://points", headers=key_header(ops)
        ) as client:
            yield client, application.state.service, ops.partition(".")[0]


def adjustment(points: int, adjustment_id: str = "a-1", reason: str = "goodwill") -> dict:
    return {"adjustment_id": adjustment_id, "points": points, "reason": reason}


async def test_an_adjustment_is_recorded_with_its_reason_and_actor(app, kafka) -> None:
    client, service, actor = app
    await feed(service, purchase("m-1", "p1", "30.00", T0))
    made = await client.post("/v1/members/m-1/adjustments", json=adjustment(-45, reason="void"))
    assert made.status_code == 201
    body = made.json()
    assert (body["points"], body["balance_after"], body["actor"], body["reason"]) == (
        -45, -15, actor, "void")  # fmt: skip
    balance, entries = await balance_and_entries(service, "m-1")
    assert balance == -15
    assert [(e.kind, e.delta, e.reference) for e in entries] == [
        ("earned", 30, "p1"), ("adjusted", -45, "a-1")]  # fmt: skip
    events = payloads(await read_topic(kafka, kafka.topics.points_events, expect=2))
    adjusted = [e for e in events if e["type"] == "loyalty.points.adjusted.v1"]
    assert len(adjusted) == 1
    assert adjusted[0]["data"] | {"reason": "void", "actor": actor} == adjusted[0]["data"]
    assert adjusted[0]["data"]["delta"] == -45


async def test_a_retry_is_the_same_adjustment_and_other_facts_are_refused(app) -> None:
    client, service, _ = app
    await feed(service, purchase("m-1", "p1", "30.00", T0))
    first = await client.post("/v1/members/m-1/adjustments", json=adjustment(10))
    again = await client.post("/v1/members/m-1/adjustments", json=adjustment(10))
    other = await client.post("/v1/members/m-1/adjustments", json=adjustment(11))
    elsewhere = await client.post("/v1/members/m-2/adjustments", json=adjustment(10))
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json() == first.json()
    assert elsewhere.status_code == 404  # m-2 has no account
    assert (await balance_and_entries(service, "m-1"))[0] == 40


async def test_bad_adjustments_change_nothing(app) -> None:
    client, service, _ = app
    await feed(service, purchase("m-1", "p1", "30.00", T0))
    for bad in (adjustment(0), adjustment(2_000_000), adjustment(5, reason=" "),
                adjustment(5, reason="nul\x00byte"),
                {**adjustment(5), "balance": 10**6}, {"points": 5, "reason": "x"}):  # fmt: skip
        answer = await client.post("/v1/members/m-1/adjustments", json=bad)
        assert answer.status_code == 422, bad
    balance, entries = await balance_and_entries(service, "m-1")
    assert (balance, len(entries)) == (30, 1)
    async with service.sessions() as session:
        assert list(await session.scalars(select(AdjustmentRow))) == []


async def test_concurrent_adjustments_and_their_retries_each_count_once(app) -> None:
    client, service, _ = app
    await feed(service, purchase("m-1", "p1", "30.00", T0))
    posts = [client.post("/v1/members/m-1/adjustments", json=adjustment(1, f"a-{n % 20}"))
             for n in range(40)]  # fmt: skip
    statuses = Counter(r.status_code for r in await asyncio.gather(*posts))
    assert statuses == {201: 20, 200: 20}
    assert (await balance_and_entries(service, "m-1"))[0] == 50
