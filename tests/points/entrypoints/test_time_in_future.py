"""The REST ingest refuses a purchase or refund stamped further ahead of its clock than
the programme allows (`max_future_seconds`): a 422 `time_in_future`, nothing published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.points.entrypoints.test_api import api, purchase_body  # noqa: F401 (fixture)
from tests.support.kafka import read_topic


def refund_body(at: datetime) -> dict[str, str]:
    return {
        "refund_id": "r-1",
        "purchase_id": "p-1",
        "member_id": "member-1",
        "amount": "5.00",
        "currency": "USD",
        "occurred_at": at.isoformat(),
    }


async def test_a_purchase_or_refund_from_the_future_is_refused_and_published_nowhere(api, kafka):  # noqa: F811
    ahead = datetime.now(UTC) + timedelta(hours=1)
    bought = await api.post(
        "/v1/purchases", json={**purchase_body("p-1"), "occurred_at": ahead.isoformat()}
    )
    refunded = await api.post("/v1/refunds", json=refund_body(ahead))
    for response in (bought, refunded):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "time_in_future"
    assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=1) == []


async def test_a_till_clock_a_little_fast_is_within_the_allowance(api, kafka):  # noqa: F811
    slightly = datetime.now(UTC) + timedelta(seconds=60)
    response = await api.post(
        "/v1/purchases", json={**purchase_body("p-1"), "occurred_at": slightly.isoformat()}
    )
    assert response.status_code == 202
    assert len(await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=5)) == 1
