"""The liability report and its CLI, against sums worked from the ledger in the test."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import LedgerEntryRow, LotRow
from loyalty_points.entrypoints.app import create_app
from tests.support.access import staff_auth
from tests.support.points import lifecycle_log, points_settings

T0 = datetime(2024, 6, 3, 9, tzinfo=UTC)


@pytest.fixture
async def app(points_database: str, kafka: KafkaSettings) -> AsyncIterator[tuple]:
    application = create_app(points_settings(points_database, kafka),
                             consume=False)  # fmt: skip
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(points_database)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", auth=auth) as c:
            service = application.state.service
            items = [translate_purchase(m) for m in lifecycle_log(30, 900, seed=11, start=T0)]
            for start in range(0, len(items), 50):
                await service.handler.apply(items[start : start + 50])
            yield c, service


async def ledger(service) -> tuple[list[LedgerEntryRow], list[LotRow]]:
    async with service.sessions() as session:
        entries = list(await session.scalars(select(LedgerEntryRow)))
        lots = list(await session.scalars(select(LotRow)))
    return entries, lots


def worked_out(entries, lots, as_of: datetime, start: datetime, end: datetime) -> dict:
    """The report's figures, summed from the entries here."""
    balance: dict[str, int] = defaultdict(int)
    available: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)  # lot -> points as of the moment
    for e in entries:
        if e.occurred_at <= as_of:
            balance[e.member_id] += e.delta
            available[e.member_id] += e.available_delta
            for lot_id, points in e.lots:
                held[lot_id] += points

    def moved(kind: str, since: datetime, until: datetime, field: str = "delta") -> int:
        return sum(getattr(e, field) for e in entries
                   if e.kind == kind and since < e.occurred_at <= until)  # fmt: skip

    expiring = {}
    for days in (30, 60, 90):
        expiring[days] = sum(held[lot.lot_id] for lot in lots if lot.expires_at is not None
                             and as_of < lot.expires_at <= as_of + timedelta(days=days)
                             and lot.earned_at <= as_of)  # fmt: skip
    year = as_of - timedelta(days=365)
    return {
        "outstanding": sum(b for b in balance.values() if b > 0),
        "owed": -sum(b for b in balance.values() if b < 0),
        "available": sum(available.values()),
        "pending": sum(balance.values()) - sum(available.values()),
        "period": {"earned": moved("earned", start, end), "vested": moved(
            "vested", start, end, "available_delta"), "redeemed": -moved("redeemed", start, end),
            "restored": moved("restored", start, end), "clawed_back": -moved(
            "clawed_back", start, end), "adjusted": moved("adjusted", start, end),
            "expired": -moved("expired", start, end)},
        "breakage": (moved("earned", year, as_of), -moved("expired", year, as_of)),
        "expiring": expiring,
    }  # fmt: skip


# Days into the log; None: the moment of the latest entry, which the report answers
# from the balances and the lots' remainders instead of summing the entries.
@pytest.mark.parametrize("days_in", [200, 500, 890, None])
async def test_the_liability_report_equals_the_sums_worked_from_the_ledger(app, days_in):
    client, service = app
    entries, lots = await ledger(service)
    latest = max(e.occurred_at for e in entries)
    as_of = latest if days_in is None else T0 + timedelta(days=days_in)
    assert as_of <= latest
    start, end = as_of - timedelta(days=90), as_of
    response = await client.get("/v1/points/liability", params={
        "as_of": as_of.isoformat(), "from": start.isoformat(), "to": end.isoformat()})  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    expected = worked_out(entries, lots, as_of, start, end)
    assert body["outstanding"]["points"] == expected["outstanding"] > 0
    assert Decimal(body["outstanding"]["value"]) == (expected["outstanding"] * Decimal("0.15"))
    assert body["owed"]["points"] == expected["owed"]
    assert (body["available"], body["pending"]) == (expected["available"], expected["pending"])
    period = {k: v for k, v in body["period"].items() if k not in ("start", "end")}
    assert period == expected["period"]
    earned, expired = expected["breakage"]
    assert (body["breakage"]["earned"], body["breakage"]["expired"]) == (earned, expired)
    rate = Decimal(body["breakage"]["rate"]) if body["breakage"]["rate"] else None
    assert rate == ((Decimal(expired) / earned).quantize(Decimal("0.0001")) if earned else None)
    assert {x["within_days"]: x["points"] for x in body["expiring"]} == expected["expiring"]
    if days_in is None or days_in > 400:  # a year in: points expired, more are about to
        assert expired > 0
        assert body["expiring"][-1]["points"] > 0


async def test_a_period_the_wrong_way_round_or_a_malformed_moment_is_a_422(app):
    client, _ = app
    wrong = await client.get("/v1/points/liability", params={
        "from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"})  # fmt: skip
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_period")
    bad = await client.get("/v1/points/liability", params={"as_of": "soon"})
    assert bad.status_code == 422
