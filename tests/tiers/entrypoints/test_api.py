"""The tier REST API on the real database, fed through the tier handler."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from rich.console import Console

from loyalty_cli import tiers as tiers_cli
from loyalty_platform.settings import KafkaSettings
from loyalty_tiers.entrypoints.app import create_app
from tests.support.access import staff_auth
from tests.support.events import encode, purchase, refund
from tests.support.tiers import as_inbound, tiers_settings

T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
async def app(
    tiers_database: str, kafka: KafkaSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The API on event time, no consumer: the test feeds the handler itself."""
    application = create_app(tiers_settings(tiers_database, kafka), consume=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(tiers_database)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://tiers", auth=auth
        ) as client:
            yield client, application.state.service


async def feed(service, *events: dict) -> None:
    """Through the handler, as consumed messages following those fed before."""
    offsets = service.__dict__.setdefault("test_offsets", defaultdict(int))
    messages = [(e["subject"].encode(), encode(e)) for e in events]
    await service.handler.apply(as_inbound(messages, offsets=offsets))


async def test_a_members_tier_says_what_keeps_it_and_what_reaches_the_next(app):
    client, service = app
    await feed(service, purchase("m-1", "p1", "60.00", T0))
    body = (await client.get("/v1/members/m-1/tier")).json()
    assert body == {
        "member_id": "m-1",
        "as_of": iso(T0),
        "tier": "ruby",
        "multiplier": "1.5",
        "since": iso(T0),
        "qualifying_spend": "60.00",
        "best_spend_in_hold": "60.00",
        "window_days": 7,
        "drops_at": iso(T0 + 35 * DAY),
        "next": {"tier": "diamond", "spend_needed": "40.00"},
        "keep": {
            "spend_needed": "0.00",
            "before": iso(T0 + 35 * DAY),
            "otherwise_drops_to": "opal",
        },
    }
    # Its partition's clock moves on: out of the window, held, 50 to keep it.
    await feed(service, purchase("m-1", "p2", "5.00", T0 + 10 * DAY))
    body = (await client.get("/v1/members/m-1/tier")).json()
    assert (body["tier"], body["qualifying_spend"], body["keep"]["spend_needed"]) == (
        "ruby",
        "5.00",
        "45.00",
    )


async def test_an_unknown_member_is_a_404_and_a_bad_id_a_422(app):
    client, _ = app
    response = await client.get("/v1/members/nobody/tier")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"
    assert (await client.get("/v1/members/has%20space/tier")).status_code == 422


async def test_the_tier_table_counts_members_and_the_report_follows_movement(app):
    client, service = app
    await feed(
        service,
        purchase("m-a", "a1", "100.00", T0),
        purchase("m-b", "b1", "25.00", T0),
        purchase("m-c", "c1", "100.00", T0),
        refund("m-c", "c1-r", "c1", "100.00", T0 + DAY),
    )
    table = (await client.get("/v1/tiers")).json()
    assert table["window_days"] == 7
    assert table["hold_days"] == 28
    assert [(t["name"], t["threshold"], t["members"]) for t in table["tiers"]] == [
        ("opal", "0.00", 1), ("pearl", "20.00", 1), ("ruby", "50.00", 0), ("diamond", "100.00", 2 - 1)
    ]  # fmt: skip

    period = {"from": iso(T0 - DAY), "to": iso(T0 + 2 * DAY)}
    report = (await client.get("/v1/tiers/report", params=period)).json()
    by_tier = {t["tier"]: t for t in report["tiers"]}
    assert by_tier["opal"]["members_at_start"] == 0  # nobody was known yet
    assert (by_tier["diamond"]["members_at_end"], by_tier["opal"]["members_at_end"]) == (1, 1)
    assert (report["upgrades"], report["downgrades"]) == (3, 1)
    assert {"from_tier": "diamond", "to_tier": "opal", "direction": "down", "changes": 1} in (
        report["movements"]
    )
    later = {"from": iso(T0 + 2 * DAY), "to": iso(T0 + 3 * DAY)}
    retained = (await client.get("/v1/tiers/report", params=later)).json()
    assert {t["tier"]: t["retention"] for t in retained["tiers"]}["diamond"] == "1.0000"

    console = Console(file=io.StringIO(), width=100)
    tiers_cli.console = console
    tiers_cli.print_report(report)
    printed = console.file.getvalue()
    assert "upgrades: 3   downgrades: 1" in printed
    assert "diamond" in printed


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-10-02T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, "invalid_period"),
        ({"from": "2026-10-01T00:00:00", "to": "2026-10-02T00:00:00Z"}, "invalid_time"),
    ],
)
async def test_a_bad_report_period_is_refused(app, params, code):
    client, _ = app
    response = await client.get("/v1/tiers/report", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


async def test_live_a_hold_that_ran_out_shows_before_any_sweep(tiers_database, kafka):
    application = create_app(tiers_settings(tiers_database, kafka, clock="wall"), consume=False)
    async with application.router.lifespan_context(application):
        await feed(application.state.service, purchase("m-old", "o1", "100.00", T0 - 400 * DAY))
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(tiers_database)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://tiers", auth=auth
        ) as client:
            body = (await client.get("/v1/members/m-old/tier")).json()
    assert body["tier"] == "opal"
    assert datetime.fromisoformat(body["as_of"]) > T0
    assert body["keep"] is None
