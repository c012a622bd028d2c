"""Balances, lots and ledger pages with the points lifecycle, now and as of a moment,
on the real database; and spending only what has vested."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_platform.settings import KafkaSettings
from loyalty_points.entrypoints.app import create_app
from tests.support.access import staff_auth
from tests.support.events import encode, purchase, refund
from tests.support.points import points_settings

T0 = datetime(2025, 1, 6, 10, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture
async def app(points_database: str, kafka: KafkaSettings) -> AsyncIterator[tuple]:
    """The API (default programme: 7 days pending, a year to expiry, warned 30 days
    before) with its consumer's handler fed by hand, on the event clock."""
    application = create_app(points_settings(points_database, kafka),
                             consume=False)  # fmt: skip
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(points_database)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", auth=auth) as c:
            yield c, application.state.service


class Feed:
    def __init__(self, service) -> None:
        self.service, self.offset = service, 0

    async def __call__(self, *events: dict) -> None:
        batch = []
        for event in events:
            message = InboundMessage("purchases", 0, self.offset, event["subject"].encode(),
                                     encode(event), 0, "log")  # fmt: skip
            batch.append(translate_purchase(message))
            self.offset += 1
        await self.service.handler.apply(batch)


async def test_points_are_pending_then_spendable_then_expire_and_as_of_answers_each_moment(app):
    client, service = app
    feed = Feed(service)
    await feed(purchase("m-1", "p1", "40.00", day(0)), purchase("m-1", "p2", "10.00", day(2)))
    now = (await client.get("/v1/members/m-1/balance")).json()
    assert (now["balance"], now["available"], now["pending"]) == (52, 0, 52)  # p2: 12 at pearl
    assert now["next_expiry"] == {"points": 40, "expires_at": "2026-01-06T10:00:00Z"}
    assert now["vesting"] == [
        {
            "points": 40,
            "vests_at": day(7).isoformat().replace("+00:00", "Z"),
            "spendable_after": 40,
        },
        {
            "points": 12,
            "vests_at": day(9).isoformat().replace("+00:00", "Z"),
            "spendable_after": 52,
        },
    ]

    # Past the vesting moments, but the partition's clock is not there yet: as of then,
    # as known now, the lots and the balance agree that nothing has vested.
    ahead = {"as_of": day(30).isoformat()}
    later = (await client.get("/v1/members/m-1/balance", params=ahead)).json()
    assert (later["available"], later["pending"], len(later["vesting"])) == (0, 52, 2)
    lots = (await client.get("/v1/members/m-1/lots", params=ahead)).json()["lots"]
    assert [lot["status"] for lot in lots] == ["pending", "pending"]

    spend = {"debit_id": "d1", "points": 30, "reference": "r1"}
    refused = await client.post("/v1/members/m-1/debits", json=spend)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "points_pending"
    assert error["details"][0]["vests_at"] == day(7).isoformat()

    # Another member's purchase moves the partition's clock past p1's vesting.
    await feed(purchase("m-2", "q1", "5.00", day(8)))
    after = (await client.get("/v1/members/m-1/balance")).json()
    assert (after["available"], after["pending"]) == (40, 12)
    assert (await client.post("/v1/members/m-1/debits", json=spend)).status_code == 201

    as_of = {"as_of": day(7.5).isoformat()}  # vested, not yet spent: the debit is wall-clock
    then = (await client.get("/v1/members/m-1/balance", params=as_of)).json()
    assert (then["balance"], then["available"], then["pending"], then["as_of"]) == (
        52, 40, 12, "2025-01-13T22:00:00Z")  # fmt: skip
    lots = (await client.get("/v1/members/m-1/lots", params=as_of)).json()["lots"]
    assert [(lot["reference"], lot["remaining"], lot["status"]) for lot in lots] == [
        ("p2", 12, "pending"), ("p1", 40, "vested")]  # fmt: skip
    before = await client.get("/v1/members/m-1/balance", params={"as_of": "2024-12-01T00:00:00Z"})
    assert before.json() | {"as_of": None} == {
        "member_id": "m-1", "balance": 0, "available": 0, "pending": 0, "next_expiry": None,
        "vesting": [],
        "as_of": None, "updated_at": None}  # fmt: skip

    # A year on: p1's remainder (10) expires at its moment, warned 30 days before.
    await feed(purchase("m-2", "q2", "5.00", day(400)))
    page = (await client.get("/v1/members/m-1/ledger")).json()["entries"]
    mine = [(e["kind"], e["delta"], e["occurred_at"]) for e in reversed(page)]
    assert ("expiring_soon", 0, "2025-12-07T10:00:00Z") in mine
    assert ("expired", -10, "2026-01-06T10:00:00Z") in mine
    assert ("expired", -12, "2026-01-08T10:00:00Z") in mine
    expired = next(e for e in page if e["kind"] == "expired" and e["delta"] == -10)
    assert [m["points"] for m in expired["lots"]] == [-10]
    final = (await client.get("/v1/members/m-1/balance")).json()
    assert (final["balance"], final["available"], final["next_expiry"]) == (0, 0, None)
    lots = (await client.get("/v1/members/m-1/lots")).json()["lots"]
    assert [lot["status"] for lot in lots] == ["expired", "expired"]


async def test_a_refund_of_a_pending_purchase_takes_its_own_lot(app):
    client, service = app
    feed = Feed(service)
    await feed(purchase("m-1", "p1", "40.00", day(0)), refund("m-1", "r1", "p1", "40.00", day(1)))
    body = (await client.get("/v1/members/m-1/balance")).json()
    assert (body["balance"], body["available"], body["pending"]) == (0, 0, 0)
    [lot] = (await client.get("/v1/members/m-1/lots")).json()["lots"]
    assert (lot["points"], lot["remaining"], lot["status"]) == (40, 0, "spent")


@pytest.mark.parametrize("moment", ["yesterday", "2025-13-01T00:00:00Z", "2025-01-01T00:00:00",
                                    "1700000000"])  # fmt: skip
async def test_a_malformed_or_zoneless_moment_is_a_422_and_an_unknown_member_a_404(app, moment):
    client, service = app
    await Feed(service)(purchase("m-1", "p1", "40.00", day(0)))
    for path in ("/v1/members/m-1/balance", "/v1/members/m-1/lots"):
        response = await client.get(path, params={"as_of": moment})
        assert response.status_code == 422, (path, response.text)
    for path in ("/v1/members/nobody/balance", "/v1/members/nobody/lots"):
        assert (await client.get(path)).status_code == 404
