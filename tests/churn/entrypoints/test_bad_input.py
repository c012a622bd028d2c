"""Bad input to the churn watch, over HTTP or on its topics: clear errors and dead
letters, never a crash."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from loyalty_churn.adapters.orm import OutboxRow, PurchaseRow
from tests.support.churn_api import DAY, START, feed, shoppers, weekly
from tests.support.events import iso, purchase, refund


async def test_unknown_members_and_bad_moments_are_clear_errors(app):
    client, service = app
    await shoppers(service)
    response = await client.get("/v1/members/nobody/risk", params={"as_of": iso(START)})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"
    before = await client.get("/v1/members/lapser/risk", params={"as_of": iso(START - DAY)})
    assert before.status_code == 404
    naive = await client.get("/v1/members/lapser/risk", params={"as_of": "2025-03-01T00:00:00"})
    assert naive.status_code == 422
    assert (await client.get("/v1/churn/summary", params={"period": "2025-13"})).status_code == 422
    assert (
        await client.get("/v1/churn/summary", params={"period": "last year"})
    ).status_code == 422


async def test_bad_messages_are_dead_lettered_and_redeliveries_count_once(app):
    _, service = app
    first = purchase("m-1", "p-1", "30.00", START)
    await feed(
        service, first, purchase("m-1", "p-1", "30.00", START)
    )  # a new event id, same purchase
    await feed(service, refund("m-1", "r-1", "p-unknown", "5.00", START + DAY))
    await feed(service, refund("m-1", "r-2", "p-1", "31.00", START + DAY))
    async with service.sessions() as session:
        bought = (await session.scalars(select(PurchaseRow.purchase_id))).all()
        dead = [
            json.loads(v)
            for v in await session.scalars(
                select(OutboxRow.value).where(
                    OutboxRow.topic == service.settings.kafka.topics.purchases_dlq
                )
            )
        ]
    assert bought == ["p-1"]
    assert sorted(d["data"]["reason"] for d in dead) == [
        "refund_exceeds_purchase",
        "unknown_purchase",
    ]
    assert all(d["data"]["consumer"] == "churn-watch" for d in dead)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/risk", {"as_of": "0001-01-01T00:00:00Z"}),
        ("/v1/risk", {"as_of": "9999-12-31T23:59:59Z"}),
        ("/v1/members/lapser/risk", {"as_of": "0001-01-01T00:00:00Z"}),
        ("/v1/members/lapser/risk", {"as_of": "9999-12-31T23:59:59Z"}),
        ("/v1/churn/summary", {"period": "0001"}),
        ("/v1/churn/summary", {"period": "9998-Q4"}),
    ],
)
async def test_moments_at_the_ends_of_the_calendar_are_answered_not_crashed(app, path, params):
    client, service = app
    await feed(service, *weekly("lapser", "40.00", range(3)))
    response = await client.get(path, params=params)
    assert response.status_code in (200, 404, 422)
    if response.status_code == 422:
        codes = ("invalid_as_of", "invalid_period", "invalid_request")  # the last: by pattern
        assert response.json()["error"]["code"] in codes


@pytest.mark.parametrize(
    "params",
    [
        {"tier": "opal\x00"},
        {"tier": ""},
        {"offset": 10**30},
        {"as_of": "1700000000"},
        {"period": "0000"},
        {"limit": "5.5"},
    ],
)
async def test_filters_outside_their_schema_are_a_422_not_a_crash(app, params):
    """What Schemathesis found: a NUL byte reaching PostgreSQL, an offset past a bigint,
    a number taken as a moment."""
    client, _ = app
    path = "/v1/churn/summary" if "period" in params else "/v1/alerts"
    if "as_of" in params:
        path = "/v1/risk"
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
