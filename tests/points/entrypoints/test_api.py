"""The points REST API on the real database and broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from loyalty_cli.stack import EmbeddedBroker
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.settings import KafkaSettings
from loyalty_points.entrypoints import ingest
from loyalty_points.entrypoints.app import create_app
from tests.support.access import staff_auth
from tests.support.kafka import payloads, read_topic
from tests.support.points import points_settings

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def purchase_body(pid: str, amount: str = "25.50", member: str = "member-1", **extra) -> dict:
    return {
        "purchase_id": pid,
        "member_id": member,
        "store_id": "store-17",
        "amount": amount,
        "currency": "USD",
        "occurred_at": (AT + timedelta(minutes=len(pid))).isoformat(),
        **extra,
    }


async def serve(settings, *, consume: bool, keys: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, consume=consume)
    auth = await staff_auth(settings.database_url) if keys else None
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://points", auth=auth) as c:
            yield c


@pytest.fixture
async def client(points_database: str, kafka: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its consumer running: what a till posts shows up in the ledger."""
    async for c in serve(points_settings(points_database, kafka), consume=True):
        yield c


@pytest.fixture
async def api(points_database: str, kafka: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone, for what needs no consumer."""
    async for c in serve(points_settings(points_database, kafka), consume=False):
        yield c


async def eventually(client: httpx.AsyncClient, path: str, ready, timeout: float = 20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(path)
        if ready(response) or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_a_posted_purchase_reaches_the_topic_and_then_the_balance(client, kafka):
    response = await client.post("/v1/purchases", json=purchase_body("p-1", "25.50"))
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["topic"] == kafka.topics.purchases

    [record] = await read_topic(kafka, kafka.topics.purchases, expect=1)
    [event] = payloads([record])
    assert record.key == b"member-1"
    assert event["id"] == accepted["event_id"]
    assert event["type"] == "loyalty.purchase.completed.v1"
    assert event["subject"] == "member-1"
    assert event["data"]["amount"] == "25.50"

    balance = await eventually(
        client, "/v1/members/member-1/balance", lambda r: r.status_code == 200
    )
    assert balance.json()["balance"] == 25


async def test_a_refund_claws_back_through_the_same_path(client):
    await client.post("/v1/purchases", json=purchase_body("p-1", "40.00"))
    # A refund follows its purchase once the ledger has it.
    await eventually(client, "/v1/members/member-1/balance", lambda r: r.status_code == 200)
    refund = {
        "refund_id": "r-1",
        "purchase_id": "p-1",
        "member_id": "member-1",
        "amount": "10.00",
        "currency": "USD",
        "occurred_at": (AT + timedelta(days=1)).isoformat(),
        "reason": "damaged",
    }
    assert (await client.post("/v1/refunds", json=refund)).status_code == 202
    balance = await eventually(
        client,
        "/v1/members/member-1/balance",
        lambda r: r.status_code == 200 and r.json()["balance"] == 30,
    )
    assert balance.json()["balance"] == 30


async def test_the_ledger_pages_newest_first_with_a_cursor(client):
    for n in range(5):
        await client.post("/v1/purchases", json=purchase_body(f"p-{n}" + "x" * n, f"{n + 1}0.00"))
    await eventually(
        client, "/v1/members/member-1/ledger?limit=10", lambda r: len(r.json()["entries"]) == 5
    )
    first = (await client.get("/v1/members/member-1/ledger?limit=2")).json()
    second = (
        await client.get(f"/v1/members/member-1/ledger?limit=2&cursor={first['next_cursor']}")
    ).json()
    third = (
        await client.get(f"/v1/members/member-1/ledger?limit=2&cursor={second['next_cursor']}")
    ).json()
    ids = [e["id"] for page in (first, second, third) for e in page["entries"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 5
    assert third["next_cursor"] is None
    # Spend climbs through pearl (x1.25), ruby (x1.5) and diamond (x2) within the week.
    assert first["entries"][0]["balance_after"] == 10 + 20 + 37 + 60 + 100
    assert [e["tier"] for e in first["entries"]] == ["diamond", "ruby"]


async def test_an_unknown_member_gets_a_clear_404(api):
    response = await api.get("/v1/members/nobody/balance")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "12.345"}, "body.amount"),
        ({"amount": "0"}, "body.amount"),
        ({"amount": 12}, "body.amount"),
        ({"occurred_at": "2026-11-20T10:00:00"}, "body.occurred_at"),
        ({"occurred_at": "9999-12-31T23:00:00-05:00"}, "body.occurred_at"),
        ({"member_id": "bad id"}, "body.member_id"),
        ({"balance": 1_000_000}, "body.balance"),
        ({"purchase_id": None}, "body.purchase_id"),
    ],
)
async def test_a_bad_purchase_is_refused_with_422_and_nothing_is_published(
    api, kafka, change, field
):
    response = await api.post("/v1/purchases", json={**purchase_body("p-1"), **change})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in {d["field"] for d in error["details"]}
    assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=1) == []


async def test_a_purchase_in_another_currency_is_refused(api, kafka):
    response = await api.post("/v1/purchases", json=purchase_body("p-1", currency="EUR"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "wrong_currency"
    assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=1) == []


async def test_a_body_over_64_kib_is_a_413_and_more_than_500_lines_a_422(api, kafka):
    huge = purchase_body("p-huge", note="x" * 70_000)
    response = await api.post("/v1/purchases", json=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    line = {"sku": "S", "quantity": 1, "unit_price": "0.05"}
    response = await api.post("/v1/purchases", json=purchase_body("p-1", items=[line] * 501))
    assert response.status_code == 422
    assert "body.items" in {d["field"] for d in response.json()["error"]["details"]}
    assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=1) == []


async def test_bad_query_parameters_are_refused(api):
    assert (await api.get("/v1/members/m/ledger?limit=0")).status_code == 422
    assert (await api.get("/v1/members/m/ledger?cursor=abc")).status_code == 422
    assert (await api.get("/v1/members/bad%20id/balance")).status_code == 422


async def test_operations_endpoints(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "database": True,
        "broker": True,
        "relay": True,
        "consumer": True,
        "background": True,
    }
    metrics = (await client.get("/metrics")).text
    assert "loyalty_batch_seconds" in metrics
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/members/{member_id}/balance" in spec["paths"]


async def test_readiness_is_red_when_the_database_is_unreachable(kafka):
    settings = points_settings("postgresql://postgres@127.0.0.1:1/nowhere", kafka)
    async for c in serve(settings, consume=False, keys=False):
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


async def test_a_purchase_posted_while_the_broker_is_down_is_a_503_to_post_again(
    points_database, tmp_path, monkeypatch
):
    monkeypatch.setattr(ingest, "BROKER_WAIT_SECONDS", 2.0)
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    broker.start()
    try:
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=3)
        await ensure_topics(kafka, kafka.topics.all())
        settings = points_settings(points_database, kafka)
        async for c in serve(settings, consume=False):
            broker.kill()
            response = await c.post("/v1/purchases", json=purchase_body("p-1"))
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "broker_unavailable"
            assert response.headers["retry-after"] == "5"
    finally:
        broker.stop()
