"""Migration 0002: the HTTP answers kept under idempotency keys become the outcomes they
stood for, and back; a key answered before the migration replays byte for byte."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.migrations import alembic_config, upgrade
from loyalty_platform.settings import asyncpg_url
from loyalty_rewards.domain.outcomes import Redeemed, Refused
from loyalty_rewards.domain.redemption import Redemption, Status
from loyalty_rewards.entrypoints.schemas import redemption_body
from loyalty_rewards.migrations import MIGRATIONS_DIR
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork
from tests.support.events import purchase
from tests.support.rewards import rewards_stack

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REQUESTS = [("r", "k1"), ("nope", "k2"), ("gone", "k3")]  # (reward, Idempotency-Key)
REDEEMED_BODY = {
    "redemption_id": "rd-" + "1" * 32,
    "member_id": "m-1",
    "reward_id": "coffee",
    "points": 40,
    "status": "confirmed",
    "coupon_code": "kVh8Gv4c",
    "created_at": "2026-11-01T12:00:00.250000Z",
}
# As the service wrote them before 0002: the status and `json.dumps` of the body.
OLD_ANSWERS = {
    "k-201": (201, REDEEMED_BODY),
    "k-404": (
        404,
        {"error": {"code": "unknown_reward", "message": "no reward nope", "details": None}},
    ),
    "k-409": (409, {"error": {"code": "out_of_stock", "message": "none left", "details": None}}),
    "k-none": (None, None),
}


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS_DIR, url), revision)


async def execute(url: str, statement: str, rows: list[dict] | None = None) -> list:
    engine = create_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), rows)
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_stored_answers_become_outcomes_and_back(new_database):
    url = await new_database()
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0001")
    await execute(
        url,
        "insert into rewards.idempotency_keys (member_id, key, request_hash, redemption_id,"
        " response_status, response_body) values ('m-1', :key, 'h', :rid, :status, :body)",
        [
            {
                "key": key,
                "rid": f"rd-{n}",
                "status": status,
                "body": None if body is None else json.dumps(body),
            }
            for n, (key, (status, body)) in enumerate(OLD_ANSWERS.items())
        ],
    )

    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)

    engine = create_engine(asyncpg_url(url))
    async with RewardsUnitOfWork(session_factory(engine)) as uow:
        outcomes = {key: (await uow.keys.get("m-1", key)).outcome for key in OLD_ANSWERS}
    await engine.dispose()
    at = datetime(2026, 11, 1, 12, 0, 0, 250000, tzinfo=UTC)
    redemption = Redemption(
        REDEEMED_BODY["redemption_id"], "m-1", "coffee", 40, Status.CONFIRMED, at, "kVh8Gv4c"
    )
    assert outcomes == {
        "k-201": Redeemed(redemption),
        "k-404": Refused("unknown_reward", "no reward nope", missing=True),
        "k-409": Refused("out_of_stock", "none left", missing=False),
        "k-none": None,
    }
    # The API renders the converted redemption as it answered before, field for field.
    assert list(redemption_body(redemption).items()) == list(REDEEMED_BODY.items())

    await downgrade(url, "0001")
    rows = await execute(
        url, "select key, response_status, response_body from rewards.idempotency_keys"
    )
    back = {key: (status, None if body is None else json.loads(body)) for key, status, body in rows}
    assert back == OLD_ANSWERS
    assert list(back["k-201"][1]) == list(REDEEMED_BODY)  # in the order it was answered


async def test_a_key_answered_before_the_migration_replays_byte_for_byte(platform_database, kafka):
    async with rewards_stack(platform_database, kafka) as s:
        await s.feed(purchase("m-1", "p1", "300.00", T0))
        coupon = {"reward_id": "r", "name": "r", "kind": "coupon", "points_cost": 100}
        gone = {"reward_id": "gone", "name": "gone", "kind": "physical", "points_cost": 1}
        for body in (coupon, gone | {"stock": 0}):
            assert (await s.client.post("/v1/admin/rewards", json=body)).status_code == 201
        first = [await redeem(s.client, reward_id, key) for reward_id, key in REQUESTS]
    await downgrade(platform_database, "0001")
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, platform_database)

    async with rewards_stack(platform_database, kafka) as s:
        again = [await redeem(s.client, reward_id, key) for reward_id, key in REQUESTS]
        assert await s.balance("m-1") == 200

    assert [r.status_code for r in first] == [201, 404, 409]
    assert [(r.status_code, r.text) for r in again] == [(r.status_code, r.text) for r in first]


async def redeem(client, reward_id: str, key: str):
    return await client.post(
        "/v1/members/m-1/redemptions",
        json={"reward_id": reward_id},
        headers={"Idempotency-Key": key},
    )
