"""Spending points for redemptions over the points API, on the real database: never
below zero under a crowd of concurrent requests, idempotent per debit id, nothing
while negative, restored once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import BalanceRow, LedgerEntryRow
from loyalty_points.entrypoints.app import create_app
from tests.support.access import staff_auth
from tests.support.events import encode, purchase, refund
from tests.support.kafka import payloads, read_topic
from tests.support.points import SPENDABLE_AT_ONCE, points_settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def app(
    points_database: str, kafka: KafkaSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    application = create_app(
        points_settings(points_database, kafka, programme=SPENDABLE_AT_ONCE), consume=False
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(points_database)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://points", auth=auth
        ) as client:
            yield client, application.state.service


async def feed(service, *events: dict, first_offset: int = 0) -> None:
    """Through the ledger's handler, as consumed messages of one partition."""
    batch = []
    for n, event in enumerate(events):
        message = InboundMessage("purchases", 0, first_offset + n, event["subject"].encode(),
                                 encode(event), 0, "log")  # fmt: skip
        batch.append(translate_purchase(message))
    await service.handler.apply(batch)


async def balance_and_entries(service, member: str) -> tuple[int, list[LedgerEntryRow]]:
    async with service.sessions() as session:
        row = await session.get(BalanceRow, member)
        entries = list(await session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.member_id == member).order_by(LedgerEntryRow.id)
        ))  # fmt: skip
    return (row.balance if row else 0), entries


def spend(debit_id: str, points: int = 500, reference: str = "redemption-1") -> dict:
    return {"debit_id": debit_id, "points": points, "reference": reference}


async def test_two_hundred_concurrent_spends_of_half_the_balance_two_succeed(app):
    client, service = app
    await feed(service, purchase("m-1", "p1", "1000.00", T0))
    responses = await asyncio.gather(*(
        client.post("/v1/members/m-1/debits", json=spend(f"d-{n}", reference=f"r-{n}"))
        for n in range(200)
    ))  # fmt: skip
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 2, 409: 198}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "insufficient_points"
    }
    balance, entries = await balance_and_entries(service, "m-1")
    assert balance == 0
    assert sum(e.delta for e in entries) == balance
    assert all(e.balance_after >= 0 for e in entries)
    assert [e.kind for e in entries] == ["earned", "redeemed", "redeemed"]


async def test_one_debit_id_asked_fifty_times_at_once_spends_once(app):
    client, service = app
    await feed(service, purchase("m-2", "p1", "1000.00", T0))
    responses = await asyncio.gather(
        *(client.post("/v1/members/m-2/debits", json=spend("same")) for _ in range(50))
    )
    assert sorted(r.status_code for r in responses) == [200] * 49 + [201]
    assert len({r.text for r in responses}) == 1
    balance, entries = await balance_and_entries(service, "m-2")
    assert (balance, len(entries)) == (500, 2)
    again = await client.post("/v1/members/m-2/debits", json=spend("same", points=400))
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "conflicting_debit"


async def test_a_negative_balance_cannot_be_spent(app):
    client, service = app
    await feed(
        service,
        purchase("m-3", "p1", "100.00", T0),
        purchase("m-3", "p2", "10.00", T0 + timedelta(days=1)),
    )
    # Spend 100, then the purchase of 100 is returned: the clawback takes the balance below 0.
    assert (await client.post("/v1/members/m-3/debits", json=spend("d1", 100))).status_code == 201
    await feed(service, refund("m-3", "r1", "p1", "100.00", T0 + timedelta(days=2)), first_offset=2)
    balance, _ = await balance_and_entries(service, "m-3")
    assert balance < 0
    refused = await client.post("/v1/members/m-3/debits", json=spend("d2", 1))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "negative_balance"
    assert (await balance_and_entries(service, "m-3"))[0] == balance


async def test_a_restore_puts_the_points_back_once_and_both_are_published(app):
    client, service = app
    await feed(service, purchase("m-4", "p1", "300.00", T0))
    made = (await client.post("/v1/members/m-4/debits", json=spend("d-4", 250))).json()
    assert made["balance_after"] == 50
    first, second = await asyncio.gather(
        client.post("/v1/debits/d-4/restore"), client.post("/v1/debits/d-4/restore")
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["restored_at"] is not None
    balance, entries = await balance_and_entries(service, "m-4")
    assert balance == 300
    assert [e.kind for e in entries] == ["earned", "redeemed", "restored"]
    kafka = service.settings.kafka
    events = payloads(await read_topic(kafka, kafka.topics.points_events, expect=4, timeout=5))
    assert sorted(e["type"] for e in events) == [
        "loyalty.points.earned.v1", "loyalty.points.redeemed.v1", "loyalty.points.restored.v1"
    ]  # fmt: skip
    assert [e["data"]["delta"] for e in events if e["data"]["reference"] == "d-4"] == [-250, 250]
    assert (await client.post("/v1/debits/nope/restore")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"debit_id": "d", "points": 0, "reference": "r"},
        {"debit_id": "d", "points": "5", "reference": "r"},
        {"debit_id": "d", "points": 5.5, "reference": "r"},
        {"debit_id": "has space", "points": 5, "reference": "r"},
        {"debit_id": "d", "points": 5, "reference": "r", "balance": 10**6},
    ],
)
async def test_a_bad_spend_is_refused_and_changes_nothing(app, body):
    client, service = app
    await feed(service, purchase("m-5", "p1", "100.00", T0))
    response = await client.post("/v1/members/m-5/debits", json=body)
    assert response.status_code == 422
    assert (await balance_and_entries(service, "m-5"))[0] == 100
