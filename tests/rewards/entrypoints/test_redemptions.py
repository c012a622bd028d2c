"""Redemptions against the real points ledger and database: never overdrawn, never
oversold, one effect per idempotency key, cancelled back to where it was."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from loyalty_kernel.programme import Programme
from loyalty_points.adapters.orm import DebitRow
from tests.support.events import purchase, refund
from tests.support.kafka import payloads, read_topic
from tests.support.rewards import rewards_stack

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def reward(reward_id: str, cost: int, **fields) -> dict:
    return {
        "reward_id": reward_id,
        "name": reward_id,
        "kind": "physical",
        "points_cost": cost,
        **fields,
    }


async def redeem(client, member: str, reward_id: str, key: str):
    return await client.post(
        f"/v1/members/{member}/redemptions",
        json={"reward_id": reward_id},
        headers={"Idempotency-Key": key},
    )


@pytest.fixture
async def stack(platform_database, kafka):
    # These tests race hundreds of attempts of one member: no abuse limit in the way.
    async with rewards_stack(platform_database, kafka, redemptions_per_member=10_000) as s:
        yield s


async def test_two_hundred_redemptions_of_half_the_balance_two_succeed(stack):
    await stack.feed(purchase("m-1", "p1", "1000.00", T0))
    assert (
        await stack.client.post("/v1/admin/rewards", json=reward("r500", 500))
    ).status_code == 201
    responses = await asyncio.gather(
        *(redeem(stack.client, "m-1", "r500", f"k-{n}") for n in range(200))
    )
    assert Counter(r.status_code for r in responses) == {201: 2, 409: 198}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "insufficient_points"
    }
    assert await stack.balance("m-1") == 0
    # Refused by the catalog's balance check, or by the points service once recorded.
    mine = (await stack.client.get("/v1/members/m-1/redemptions", params={"limit": 200})).json()
    statuses = Counter(r["status"] for r in mine)
    assert statuses["confirmed"] == 2
    assert set(statuses) <= {"confirmed", "rejected"}


async def test_two_hundred_members_racing_for_ten_in_stock_ten_succeed(stack):
    await stack.feed(*(purchase(f"m-{n}", f"p-{n}", "100.00", T0) for n in range(200)))
    await stack.client.post("/v1/admin/rewards", json=reward("tree", 50, stock=10))
    responses = await asyncio.gather(
        *(redeem(stack.client, f"m-{n}", "tree", "k") for n in range(200))
    )
    assert Counter(r.status_code for r in responses) == {201: 10, 409: 190}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "out_of_stock"
    }
    listed = (await stack.client.get("/v1/rewards")).json()["rewards"]
    assert next(r for r in listed if r["reward_id"] == "tree")["stock"] == 0
    async with stack.points.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(DebitRow)) == 10


async def test_fifty_identical_requests_with_one_key_have_one_effect(stack):
    await stack.feed(purchase("m-1", "p1", "1000.00", T0))
    await stack.client.post("/v1/admin/rewards", json=reward("r100", 100, kind="coupon"))
    responses = await asyncio.gather(
        *(redeem(stack.client, "m-1", "r100", "same") for _ in range(50))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert responses[0].json()["coupon_code"]
    assert await stack.balance("m-1") == 900
    other = await stack.client.post(
        "/v1/members/m-1/redemptions",
        json={"reward_id": "other"},
        headers={"Idempotency-Key": "same"},
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


async def test_the_same_key_after_a_restart_gives_the_same_answer(platform_database, kafka):
    async with rewards_stack(platform_database, kafka) as s:
        await s.feed(purchase("m-1", "p1", "300.00", T0))
        await s.client.post("/v1/admin/rewards", json=reward("r100", 100))
        first = await redeem(s.client, "m-1", "r100", "k1")
    async with rewards_stack(platform_database, kafka) as s:
        again = await redeem(s.client, "m-1", "r100", "k1")
        assert await s.balance("m-1") == 200
    assert (again.status_code, again.text) == (first.status_code, first.text)


async def test_a_member_with_a_negative_balance_cannot_redeem(stack):
    await stack.feed(
        purchase("m-1", "p1", "100.00", T0), purchase("m-1", "p2", "10.00", T0 + timedelta(days=1))
    )
    await stack.client.post("/v1/admin/rewards", json=reward("r100", 100))
    assert (await redeem(stack.client, "m-1", "r100", "k1")).status_code == 201
    await stack.feed(refund("m-1", "r1", "p1", "100.00", T0 + timedelta(days=2)))
    assert await stack.balance("m-1") < 0
    refused = await redeem(stack.client, "m-1", "r100", "k2")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "negative_balance"
    offer = (await stack.client.get("/v1/rewards", params={"member_id": "m-1"})).json()["rewards"]
    assert (
        next(r for r in offer if r["reward_id"] == "r100")["reason"]["code"] == "negative_balance"
    )


async def test_points_still_pending_say_so_and_when_they_vest(platform_database, kafka):
    """The default programme: a purchase's points are pending for 7 days."""
    async with rewards_stack(platform_database, kafka, programme=Programme()) as stack:
        bought = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        await stack.feed(purchase("m-1", "p1", "150.00", bought))
        await stack.client.post("/v1/admin/rewards", json=reward("r100", 100))
        offer = (await stack.client.get("/v1/rewards", params={"member_id": "m-1"})).json()
        reason = next(r for r in offer["rewards"] if r["reward_id"] == "r100")["reason"]
        vests = (bought + timedelta(days=7)).isoformat()
        assert reason["code"] == "points_pending"
        assert vests in reason["message"]
        refused = await redeem(stack.client, "m-1", "r100", "k1")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "points_pending")
        assert await stack.balance("m-1") == 150  # nothing taken


async def test_a_cancel_gives_back_points_and_stock_once(stack):
    await stack.feed(purchase("m-1", "p1", "300.00", T0))
    await stack.client.post("/v1/admin/rewards", json=reward("r250", 250, stock=1))
    made = (await redeem(stack.client, "m-1", "r250", "k1")).json()
    assert await stack.balance("m-1") == 50
    first, second = await asyncio.gather(
        stack.client.post(f"/v1/redemptions/{made['redemption_id']}/cancel"),
        stack.client.post(f"/v1/redemptions/{made['redemption_id']}/cancel"),
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert await stack.balance("m-1") == 300
    listed = (await stack.client.get("/v1/rewards")).json()["rewards"]
    assert next(r for r in listed if r["reward_id"] == "r250")["stock"] == 1
    kafka = stack.rewards.settings.kafka
    events = payloads(await read_topic(kafka, kafka.topics.rewards_events, expect=3, timeout=5))
    assert [(e["type"], e["data"]["redemption_id"]) for e in events] == [
        ("loyalty.reward.redeemed.v1", made["redemption_id"]),
        ("loyalty.reward.redemption_cancelled.v1", made["redemption_id"]),
    ]


async def test_the_catalog_says_why_a_member_cannot_redeem_each_reward(stack):
    await stack.feed(purchase("m-1", "p1", "150.00", T0))
    for body in (
        reward("cheap", 10, limit_per_member=1, limit_period_days=30),
        reward("dear", 1000),
        reward("gone", 10, stock=0),
        reward("elite", 10, min_tier="diamond"),
        reward("later", 10, available_from="2099-01-01T00:00:00Z"),
    ):
        assert (await stack.client.post("/v1/admin/rewards", json=body)).status_code == 201
    await stack.client.post("/v1/admin/rewards/gone/deactivate")
    assert (await redeem(stack.client, "m-1", "cheap", "k1")).status_code == 201
    offer = (await stack.client.get("/v1/rewards", params={"member_id": "m-1"})).json()
    reasons = {
        r["reward_id"]: (r["redeemable"], r["reason"] and r["reason"]["code"])
        for r in offer["rewards"]
    }
    assert reasons["cheap"] == (False, "limit_reached")
    assert reasons["dear"] == (False, "insufficient_points")
    assert reasons["gone"] == (False, "inactive")
    assert reasons["elite"] == (False, "tier_too_low")
    assert reasons["later"] == (False, "not_yet_available")
    assert reasons["store-credit-15"] == (True, None)  # from the default catalog


@pytest.mark.parametrize(
    "body",
    [
        reward("x", 0),
        reward("x", 10, stock=-1),
        reward("x", 10, kind="voucher"),  # a voucher needs its value
        reward("x", 10, limit_per_member=1),  # and a limit its period
        reward("x", 10, min_tier="platinum"),
        reward(
            "x", 10, available_from="2026-12-01T00:00:00Z", available_until="2026-11-01T00:00:00Z"
        ),
        reward("x", 10, balance=5),
    ],
)
async def test_a_bad_reward_is_refused_with_a_clear_error(stack, body):
    response = await stack.client.post("/v1/admin/rewards", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"]
    assert (await stack.client.patch("/v1/admin/rewards/x", json={"name": "y"})).status_code == 404


async def test_restock_and_update_keep_the_rules(stack):
    await stack.client.post("/v1/admin/rewards", json=reward("r", 10, stock=1))
    restocked = await stack.client.post("/v1/admin/rewards/r/restock", json={"quantity": 4})
    assert restocked.json()["stock"] == 5
    # Past the stock limit: refused, where it once overflowed the column (a 500).
    near = await stack.client.post("/v1/admin/rewards/r/restock", json={"quantity": 9_999_995})
    over = await stack.client.post("/v1/admin/rewards/r/restock", json={"quantity": 1})
    assert (near.json()["stock"], over.status_code) == (10_000_000, 409)
    assert over.json()["error"]["code"] == "stock_limit"
    early = {**reward("old", 1), "available_from": "0001-01-01T00:00:00+05:38"}
    assert (await stack.client.post("/v1/admin/rewards", json=early)).status_code == 422
    bad = await stack.client.patch("/v1/admin/rewards/r", json={"limit_per_member": 2})
    assert bad.status_code == 422
    good = await stack.client.patch("/v1/admin/rewards/r", json={"points_cost": 20})
    assert good.json()["points_cost"] == 20


async def test_a_diamond_only_reward_asks_the_tier_service(platform_database, kafka):
    async with rewards_stack(platform_database, kafka, tiers=True) as s:
        await s.feed(purchase("m-rich", "p1", "120.00", T0), purchase("m-poor", "p2", "90.00", T0))
        await s.client.post("/v1/admin/rewards", json=reward("elite", 50, min_tier="diamond"))
        assert (await redeem(s.client, "m-rich", "elite", "k")).status_code == 201
        refused = await redeem(s.client, "m-poor", "elite", "k")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "tier_too_low"


async def test_a_per_member_limit_holds_under_concurrent_requests(stack):
    await stack.feed(purchase("m-1", "p1", "500.00", T0))
    await stack.client.post(
        "/v1/admin/rewards", json=reward("once", 10, limit_per_member=1, limit_period_days=30)
    )
    responses = await asyncio.gather(
        *(redeem(stack.client, "m-1", "once", f"k-{n}") for n in range(20))
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 19}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "limit_reached"
    }
    assert await stack.balance("m-1") == 490


async def test_a_dependency_outage_is_not_stored_under_the_key(platform_database, kafka):
    async with rewards_stack(platform_database, kafka, tiers_url="http://127.0.0.1:9") as s:
        await s.feed(purchase("m-1", "p1", "100.00", T0))
        await s.client.post("/v1/admin/rewards", json=reward("elite", 10, min_tier="pearl"))
        first = await redeem(s.client, "m-1", "elite", "k")
        assert first.status_code == 503
    async with rewards_stack(platform_database, kafka, tiers=True) as s:
        s.offset = 1  # the points ledger applied offset 0 in the first stack
        await s.feed(purchase("m-1", "p2", "30.00", T0 + timedelta(hours=1)))
        assert await s.balance("m-1") == 160  # 100, then 30 at diamond x2
        retried = await redeem(s.client, "m-1", "elite", "k")
        assert retried.status_code == 201  # the same key, now answered for real
