"""Access control as the points service applies it: tills post for their own store,
members read their own points, failing clients are slowed down, security events are
logged and counted, and production refuses development credentials."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from loyalty_platform.access import AccessSettings, Kind
from loyalty_platform.access.startup import InsecureConfiguration
from loyalty_points.entrypoints.app import create_app
from tests.points.entrypoints.test_spending import feed as feed_ledger
from tests.support.access import issue_key, key_header, member_header, member_token
from tests.support.events import purchase as purchase_event
from tests.support.kafka import payloads, read_topic
from tests.support.points import points_settings

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PRODUCTION = {"LOYALTY_ENV": "production", "LOYALTY_TOKEN_SECRET": "p" * 40,
              "LOYALTY_TOKEN_ISSUER": "https://id.shop.example"}  # fmt: skip


@asynccontextmanager
async def points_app(database_url, kafka, **access: object) -> AsyncIterator[tuple[Any, Any]]:
    """The points API (consumer off) and its running service."""
    settings = points_settings(database_url, kafka, access=AccessSettings(**access))
    app = create_app(settings, consume=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://points") as client:
            yield client, app.state.service


@asynccontextmanager
async def points_api(database_url, kafka, **access: object) -> AsyncIterator[httpx.AsyncClient]:
    async with points_app(database_url, kafka, **access) as (client, _):
        yield client


def purchase(store: str = "store-17", **changes: str) -> dict[str, str]:
    return {"purchase_id": "p-1", "member_id": "m-1", "store_id": store, "amount": "20.00",
            "currency": "USD", "occurred_at": AT.isoformat(), **changes}  # fmt: skip


def security_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "loyalty.security"]


async def metric(client: httpx.AsyncClient, name: str, label: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(name) and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_a_purchase_for_another_store_is_refused_recorded_and_changes_nothing(
    points_database, kafka, caplog
) -> None:
    till = key_header(await issue_key(points_database, Kind.TILL, store_id="store-17"))
    caplog.set_level(logging.WARNING, "loyalty.security")
    async with points_api(points_database, kafka) as api:
        refused = await api.post("/v1/purchases", json=purchase("store-99"), headers=till)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert await metric(api, "loyalty_security_events_total", 'event="store_mismatch"') == 1
        assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=2) == []
        accepted = await api.post("/v1/purchases", json=purchase(), headers=till)
        assert accepted.status_code == 202
    [event] = security_events(caplog)
    assert event["security_event"] == "store_mismatch"
    assert (event["key_store"], event["named"]) == ("store-17", "store-99")
    assert str(event["key_id"]).startswith("till_")
    [published] = payloads(await read_topic(kafka, kafka.topics.purchases, expect=1))
    assert published["source"] == "pos-api/store-17"


async def test_a_till_refunds_only_what_its_store_sold(points_database, kafka) -> None:
    till = key_header(await issue_key(points_database, Kind.TILL, store_id="store-17",
                                      till_id="till-3"))  # fmt: skip
    elsewhere = key_header(await issue_key(points_database, Kind.TILL, store_id="store-99"))

    def refund(purchase_id: str, **changes: str) -> dict[str, str]:
        return {"refund_id": f"r-{purchase_id}", "purchase_id": purchase_id, "member_id": "m-1",
                "amount": "5.00", "currency": "USD", "occurred_at": AT.isoformat(), **changes}  # fmt: skip

    async with points_app(points_database, kafka) as (api, service):
        await feed_ledger(service, purchase_event("m-1", "p-17", "20.00", AT, store_id="store-17"))
        answers = [
            await api.post("/v1/refunds", json=refund("p-17", store_id="store-99"), headers=till),
            await api.post("/v1/refunds", json=refund("p-17"), headers=elsewhere),
            await api.post("/v1/refunds", json=refund("p-unknown"), headers=till),
            await api.post("/v1/refunds", json=refund("p-17", member_id="m-2"), headers=till),
        ]
        assert [a.status_code for a in answers] == [403, 404, 404, 404]
        assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=2) == []
        assert (await api.post("/v1/refunds", json=refund("p-17"), headers=till)).status_code == 202
        mismatches = await metric(api, "loyalty_security_events_total", 'event="store_mismatch"')
    assert mismatches == 2
    [published] = payloads(await read_topic(kafka, kafka.topics.purchases, expect=1))
    assert published["data"]["store_id"] == "store-17"
    assert published["source"] == "pos-api/store-17/till-3"


async def test_a_member_reads_their_own_points_and_nobody_elses(points_database, kafka) -> None:
    async with points_api(points_database, kafka) as api:
        mine = await api.get("/v1/members/m-1/ledger", headers=member_header(member_token("m-1")))
        theirs = await api.get("/v1/members/m-2/ledger", headers=member_header(member_token("m-1")))
        nobody = await api.get(
            "/v1/members/m-2/balance", headers=member_header(member_token("m-2"))
        )
    assert mine.status_code == 200
    assert theirs.status_code == 404
    assert theirs.json() == {
        "error": {"code": "not_found", "message": "not found", "details": None}
    }
    assert nobody.status_code == 404  # their own, but no account yet


async def test_a_client_that_keeps_failing_is_told_to_wait(points_database, kafka, caplog) -> None:
    good = key_header(await issue_key(points_database))
    caplog.set_level(logging.WARNING, "loyalty.security")
    async with points_api(points_database, kafka, ACCESS_FAILED_AUTH_LIMIT=3) as api:
        bad = key_header("ops_0123456789abcdef." + "x" * 43)
        statuses = [(await api.get("/v1/members/m-1/balance", headers=bad)).status_code
                    for _ in range(3)]  # fmt: skip
        assert statuses == [401, 401, 401]
        slowed = await api.get("/v1/members/m-1/balance", headers=bad)
        assert slowed.status_code == 429
        assert 1 <= int(slowed.headers["Retry-After"]) <= 60
        assert (await api.get("/v1/members/m-1/balance", headers=bad)).status_code == 429
        # Another key from the same address (another till behind the store's NAT) is
        # not held up by it; nor are failures with no key at all.
        assert (await api.get("/v1/members/m-1/balance", headers=good)).status_code == 404
        assert (await api.get("/v1/members/m-1/balance")).status_code == 401
        failures = await metric(
            api, "loyalty_auth_failures_total", 'reason="key_unknown_or_revoked"'
        )
        limited = await metric(api, "loyalty_auth_failures_total", 'reason="rate_limited"')
    assert (failures, limited) == (3, 2)
    [event] = security_events(caplog)
    assert event["security_event"] == "auth_failures_over_limit"
    assert event["client"] == "127.0.0.1"


async def test_production_refuses_development_secrets(points_database, kafka) -> None:
    with pytest.raises(InsecureConfiguration, match="LOYALTY_TOKEN_SECRET"):
        async with points_api(points_database, kafka, LOYALTY_ENV="production"):
            pass


async def test_production_refuses_while_a_development_key_works(points_database, kafka) -> None:
    await issue_key(points_database, development=True)
    with pytest.raises(InsecureConfiguration, match="1 development API keys still work"):
        async with points_api(points_database, kafka, **PRODUCTION):
            pass


async def test_production_starts_with_its_own_secrets(points_database, kafka) -> None:
    await issue_key(points_database)  # a production key is fine
    async with points_api(points_database, kafka, **PRODUCTION) as api:
        assert (await api.get("/healthz")).status_code == 200
