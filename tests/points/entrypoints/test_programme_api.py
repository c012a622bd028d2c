"""`GET /v1/programme` and the ledger page under the shipped versions of the programme."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import load_programme
from loyalty_platform.settings import KafkaSettings
from loyalty_points.entrypoints.app import create_app
from tests.support.access import member_header, member_token, staff_auth
from tests.support.events import encode, purchase
from tests.support.points import points_settings

VERSIONS = Path(__file__).parents[3] / "deploy" / "programme"


@pytest.fixture
async def api(points_database: str, kafka: KafkaSettings) -> AsyncIterator[tuple]:
    settings = points_settings(points_database, kafka, programme=load_programme(VERSIONS))
    application = create_app(settings, consume=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(points_database)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", auth=auth) as c:
            yield c, application.state.service


async def test_the_programme_lists_every_version_and_the_one_in_force(api):
    client, _ = api
    answer = await client.get("/v1/programme")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [v["version"] for v in body["versions"]] == ["2025-01-launch", "2026-11-holiday"]
    assert body["versions"][0]["effective_from"] is None
    assert body["versions"][1]["effective_from"] == "2026-11-01T00:00:00Z"
    assert body["in_force"] == "2026-11-holiday"  # the wall clock is past its start
    meat = next(r for r in body["versions"][1]["rules"] if r["id"] == "thanksgiving-meat")
    assert (meat["from"], meat["multiplier"], meat["cap_points"]) == (
        "2026-11-19T00:00:00-05:00",
        "3",
        600,
    )
    # An app may read it too (to show the promotions).
    app_read = await client.get("/v1/programme", headers=member_header(member_token("m-1")))
    assert app_read.status_code == 200


async def test_the_ledger_shows_the_version_and_rules_an_entry_earned_under(api):
    client, service = api
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)  # Thanksgiving week, under the holiday version
    items = [{"sku": "TURKEY-16", "category": "meat", "quantity": 1, "unit_price": "40.00"},
             {"sku": "GC-50", "category": "gift_card", "quantity": 1, "unit_price": "50.00"},
             {"sku": "BREAD", "category": "bakery", "quantity": 2, "unit_price": "5.00"}]  # fmt: skip
    event = encode(purchase("m-1", "p-1", "100.00", at, items=items))
    await service.handler.apply([translate_purchase(
        InboundMessage("purchases", 0, 0, b"m-1", event, 0))])  # fmt: skip
    page = (await client.get("/v1/members/m-1/ledger")).json()
    (earned,) = [e for e in page["entries"] if e["kind"] == "earned"]
    # meat 40 x 3 = 120, gift card 0, bread 10, welcome 50, big basket 25
    assert earned["delta"] == 205
    assert earned["programme_version"] == "2026-11-holiday"
    assert earned["rules"] == ["thanksgiving-meat", "no-gift-cards-or-tobacco", "welcome",
                               "big-basket"]  # fmt: skip
