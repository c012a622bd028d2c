"""The churn-watch REST API on the real database, fed through the watch handler."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loyalty_churn.adapters.orm import OutboxRow, PurchaseRow
from loyalty_churn.entrypoints.app import create_app
from loyalty_kernel.messages import InboundMessage
from loyalty_platform.settings import KafkaSettings
from tests.support.access import staff_auth
from tests.support.churn import churn_settings, tier_changed, wait_outbox_empty
from tests.support.events import encode, iso, purchase, refund
from tests.support.kafka import payloads, read_topic

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


@pytest.fixture
async def app(
    churn_database: str, kafka: KafkaSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The API on event time, no consumer: the test feeds the handler itself."""
    application = create_app(churn_settings(churn_database, kafka), consume=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(churn_database)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://churn", auth=auth
        ) as client:
            yield client, application.state.service


async def feed(service: Any, *events: dict[str, Any], topic: str | None = None) -> None:
    """Through the handler, as consumed messages on one partition, after those fed before."""
    name = topic or service.settings.kafka.topics.purchases
    offsets = service.__dict__.setdefault("test_offsets", defaultdict(int))
    batch = []
    for e in events:
        batch.append(
            InboundMessage(
                name, 0, offsets[name], e["subject"].encode(), encode(e), 0, None, "log-1"
            )
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


async def test_a_members_risk_as_of_a_date_shows_signals_and_features(app):
    client, service = app
    await shoppers(service)
    as_of = LAPSER_LAST + 200 * DAY
    body = (await client.get("/v1/members/lapser/risk", params={"as_of": iso(as_of)})).json()
    assert body["as_of"] == iso(as_of)
    assert body["last_purchase_at"] == iso(LAPSER_LAST)
    codes = [s["code"] for s in body["signals"]]
    assert codes[:2] == ["lapsed", "overdue"]
    lapsed = body["signals"][0]
    assert lapsed == {"code": "lapsed", "observed": 200.0, "threshold": 180.0}
    assert body["severity"] == "high"
    assert 0.85 <= body["risk_score"] <= 1
    assert body["features"]["purchases"] == 52
    assert body["features"]["median_gap_days"] == 7
    assert body["features"]["spend_total"] == "2080.00"

    early = (
        await client.get("/v1/members/lapser/risk", params={"as_of": iso(START + 10 * WEEK)})
    ).json()
    assert early["signals"] == []
    assert early["severity"] is None
    assert early["risk_score"] < body["risk_score"]


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


async def test_everyone_ranked_riskiest_first_in_pages_and_as_csv(app):
    client, service = app
    await shoppers(service)
    others = [purchase(f"once-{n}", f"once-{n}", "12.00", START + n * DAY) for n in range(5)]
    await feed(service, *others)
    as_of = iso(LAPSER_LAST + 100 * DAY)
    whole = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 100})).json()
    assert whole["total"] == 7
    ranked = [m["member_id"] for m in whole["members"]]
    scores = [m["risk_score"] for m in whole["members"]]
    assert scores == sorted(scores, reverse=True)
    assert ranked.index("lapser") < ranked.index("regular")
    assert ranked[-1] == "regular"
    page = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 3, "offset": 2})).json()
    assert [m["member_id"] for m in page["members"]] == ranked[2:5]
    text = (await client.get("/v1/risk", params={"as_of": as_of, "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["member_id"] for r in rows] == ranked
    assert [int(r["rank"]) for r in rows] == list(range(1, 8))


async def test_alerts_fire_as_time_passes_and_filter_and_sort_by_value(app):
    client, service = app
    # a lapser, a small spender who lapses the same way (less value at risk), a regular
    first_year = weekly("lapser", "40.00", range(52)) + weekly("small", "5.00", range(40, 52))
    first_year += weekly("regular", "20.00", range(52))
    await feed(service, *sorted(first_year, key=lambda e: e["time"]))
    await feed(service, tier_changed("lapser", 1, LAPSER_LAST + 3 * DAY, "ruby", "pearl"),
               topic=service.settings.kafka.topics.tiers_events)  # fmt: skip
    # the downgrade is assessed once the partition's clock passes it
    assert (await client.get("/v1/alerts")).json()["alerts"] == []
    # the regular keeps the partition's clock moving: time passes for everyone
    await feed(service, *weekly("regular", "20.00", range(52, 104)))
    alerts = (await client.get("/v1/alerts")).json()["alerts"]
    assert [a["member_id"] for a in alerts] == ["lapser", "small"]
    assert [a["status"] for a in alerts] == ["open", "open"]
    values = [float(a["value_at_risk"]) for a in alerts]
    assert values == sorted(values, reverse=True)
    lapser = alerts[0]
    assert {s["code"] for s in lapser["signals"]} >= {"lapsed", "overdue", "tier_downgrade"}
    assert lapser["tier"] == "pearl"
    assert lapser["severity"] == "high"
    assert lapser["opened_at"] == iso(LAPSER_LAST + 3 * DAY)  # the downgrade came first

    high = (await client.get("/v1/alerts", params={"severity": "high"})).json()["alerts"]
    assert {a["member_id"] for a in high} <= {"lapser", "small"}
    by_signal = (await client.get("/v1/alerts", params={"signal": "tier_downgrade"})).json()
    assert [a["member_id"] for a in by_signal["alerts"]] == ["lapser"]
    by_tier = (await client.get("/v1/alerts", params={"tier": "pearl"})).json()["alerts"]
    assert [a["member_id"] for a in by_tier] == ["lapser"]
    assert (await client.get("/v1/alerts", params={"signal": "bogus"})).status_code == 422

    # the lapser comes back: resolved, and the event is in the outbox
    await feed(service, purchase("lapser", "lapser-back", "40.00", LAPSER_LAST + 370 * DAY))
    still_open = (await client.get("/v1/alerts")).json()["alerts"]
    assert [a["member_id"] for a in still_open] == ["small"]
    resolved = (await client.get("/v1/alerts", params={"status": "resolved"})).json()["alerts"]
    assert [(a["member_id"], a["resolved_at"]) for a in resolved] == [
        ("lapser", iso(LAPSER_LAST + 370 * DAY))
    ]
    await wait_outbox_empty(service)
    published = payloads(
        await read_topic(
            service.settings.kafka,
            service.settings.kafka.topics.churn_alerts,
            expect=1000,
            timeout=3,
        )
    )
    types = [(e["subject"], e["type"]) for e in published]
    assert types.count(("lapser", "loyalty.churn.alert_resolved.v1")) == 1
    assert types.count(("lapser", "loyalty.churn.alert.v1")) == resolved[0]["revision"]
    assert resolved[0]["revision"] >= 2  # opened on the downgrade, escalated as time passed


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
        dead = [json.loads(v) for v in await session.scalars(
            select(OutboxRow.value).where(OutboxRow.topic == service.settings.kafka.topics.purchases_dlq)
        )]  # fmt: skip
    assert bought == ["p-1"]
    assert sorted(d["data"]["reason"] for d in dead) == [
        "refund_exceeds_purchase",
        "unknown_purchase",
    ]
    assert all(d["data"]["consumer"] == "churn-watch" for d in dead)


async def test_churn_summary_counts_lost_customers_and_their_spend(app):
    client, service = app
    await shoppers(service)
    await feed(service, purchase("regular", "regular-late", "20.00", START + 800 * DAY))
    body = (await client.get("/v1/churn/summary", params={"period": "2026"})).json()
    # customers at 2026-01-01: both bought in the 180 days before. The lapser (last
    # purchase 2025-12-22) is lost on 2026-06-20; the regular buys all year.
    assert body["start"] == "2026-01-01T00:00:00Z"
    assert body["end"] == "2027-01-01T00:00:00Z"
    assert body["complete"] is True
    assert (body["customers"], body["lost"]) == (2, 1)
    assert body["absolute_churn_rate"] == 0.5
    # each weighed by their spend in the 180 days before the period
    year = datetime(2026, 1, 1, tzinfo=UTC)
    weeks = sum(1 for w in range(52) if year - 180 * DAY < START + w * WEEK <= year)
    assert body["relative_churn_rate"] == round(40 * weeks / (40 * weeks + 20 * weeks), 4)
    assert body["by_tier"] == [{"tier": "opal", "customers": 2, "lost": 1, "retention": 0.5}]
    quarter = (await client.get("/v1/churn/summary", params={"period": "2026-Q1"})).json()
    assert (quarter["customers"], quarter["lost"]) == (2, 0)


async def test_fitting_the_model_puts_it_in_use(app):
    client, service = app
    await shoppers(service)
    before = (await client.get("/v1/churn/model")).json()
    assert before["version"] is None
    assert before["calibrated"] is False
    fitted = await client.post("/v1/churn/model", params={"as_of": iso(LAPSER_LAST + 100 * DAY)})
    assert fitted.status_code == 201
    body = fitted.json()
    assert body["version"] == 1
    assert body["fitted_as_of"] == iso(LAPSER_LAST + 100 * DAY)
    assert body["training"]["members"] == 2
    assert body["calibrated"] is False  # two members are too few to calibrate on
    assert (await client.get("/v1/churn/model")).json()["version"] == 1
    page = (await client.get("/v1/risk", params={"as_of": iso(LAPSER_LAST)})).json()
    assert page["model_version"] == 1


async def test_pages_of_one_ranking_come_from_one_scoring_until_new_facts_arrive(app):
    client, service = app
    await shoppers(service)
    as_of = iso(LAPSER_LAST + 100 * DAY)
    first = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 1})).json()
    assert first["members"][0]["member_id"] == "lapser"
    kept = next(iter(service.rankings._kept.values()))
    await client.get("/v1/risk", params={"as_of": as_of, "limit": 1, "offset": 1})
    assert next(iter(service.rankings._kept.values())) is kept  # scored once for both pages
    # the lapser bought again before that date: the next page request sees it
    await feed(service, purchase("lapser", "lapser-again", "40.00", LAPSER_LAST + 99 * DAY))
    again = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 1})).json()
    assert again["members"][0]["member_id"] == "lapser"
    assert again["members"][0]["risk_score"] < first["members"][0]["risk_score"]
    assert again["members"][0]["last_purchase_at"] == iso(LAPSER_LAST + 99 * DAY)


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
    [{"tier": "opal\x00"}, {"tier": ""}, {"offset": 10**30}, {"as_of": "1700000000"},
     {"period": "0000"}, {"limit": "5.5"}],
)  # fmt: skip
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
