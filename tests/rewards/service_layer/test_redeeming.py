"""The redemption saga driven through the service layer, on the real database with the
real points service beside it: the outcomes it returns and what each leaves behind
(points, stock, redemptions, keys, outbox)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from loyalty_kernel.events.rewards import REDEMPTION_CANCELLED, REWARD_REDEEMED
from loyalty_rewards.adapters.orm import OutboxRow
from loyalty_rewards.domain.catalog import Reward, RewardKind
from loyalty_rewards.domain.outcomes import (
    Cancelled,
    Pending,
    Redeemed,
    Refused,
    Replayed,
    Unavailable,
)
from loyalty_rewards.domain.redemption import Redemption, Status
from loyalty_rewards.service_layer.redeeming import KeyReused
from tests.support.events import purchase, refund
from tests.support.rewards import Layer, rewards_layer

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


BASE = Reward("x", "x", "", RewardKind.PHYSICAL, 1, None, None, None, None, None, None, True)


def reward(reward_id: str, cost: int, **fields) -> Reward:
    return replace(
        BASE, **({"reward_id": reward_id, "name": reward_id, "points_cost": cost} | fields)
    )


@pytest.fixture
async def layer(platform_database, kafka):
    async with rewards_layer(platform_database, kafka) as found:
        await found.feed(purchase("m-1", "p1", "300.00", T0))
        yield found


async def stock(layer: Layer, reward_id: str) -> int | None:
    async with layer.uow() as uow:
        found = await uow.catalog.get(reward_id)
    assert found is not None
    return found.stock


async def history(layer: Layer, member: str = "m-1") -> list[Redemption]:
    return await layer.redeeming.history(member, 50)


async def outbox(layer: Layer) -> list[tuple[str, str, str]]:
    """(topic, type, redemption id) of every staged event, in order."""
    async with layer.uow() as uow:
        rows = await uow.session.scalars(select(OutboxRow).order_by(OutboxRow.id))
        events = [(row.topic, json.loads(row.value)) for row in rows]
    return [(topic, e["type"], e["data"]["redemption_id"]) for topic, e in events]


async def test_a_redemption_is_confirmed_taking_points_and_stock_with_its_event(layer):
    await layer.cataloguing.add(reward("tree", 100, stock=3))
    before = await layer.balance("m-1")

    outcome = await layer.redeeming.redeem("m-1", "tree", "k1")

    assert isinstance(outcome, Redeemed)
    made = outcome.redemption
    assert (made.member_id, made.reward_id, made.points) == ("m-1", "tree", 100)
    assert made.status is Status.CONFIRMED
    assert made.redemption_id.startswith("rd-")
    assert await layer.balance("m-1") == before - 100
    assert await stock(layer, "tree") == 2
    assert await history(layer) == [made]
    topic = layer.settings.kafka.topics.rewards_events
    assert await outbox(layer) == [(topic, REWARD_REDEEMED, made.redemption_id)]


async def test_an_unknown_reward_is_refused_as_missing_and_kept_under_the_key(layer):
    outcome = await layer.redeeming.redeem("m-1", "nothing", "k1")

    assert outcome == Refused("unknown_reward", "no reward nothing", missing=True)
    assert await history(layer) == []
    assert await layer.redeeming.redeem("m-1", "nothing", "k1") == Replayed(outcome)


async def test_the_catalog_rules_refuse_before_anything_is_taken(layer):
    await layer.cataloguing.add(reward("elite", 10, stock=5, min_tier="pearl"))
    await layer.cataloguing.add(reward("gone", 10, stock=0))
    await layer.cataloguing.add(reward("dear", 1000, stock=5))
    before = await layer.balance("m-1")

    tier = await layer.redeeming.redeem("m-1", "elite", "k1")
    sold_out = await layer.redeeming.redeem("m-1", "gone", "k2")
    poor = await layer.redeeming.redeem("m-1", "dear", "k3")

    # No tier service: the member holds the lowest tier.
    assert tier == Refused("tier_too_low", "for members in tier pearl and above")
    assert sold_out == Refused("out_of_stock", "none left")
    assert isinstance(poor, Refused)
    assert (poor.code, poor.missing) == ("insufficient_points", False)
    assert await layer.balance("m-1") == before
    assert [await stock(layer, r) for r in ("elite", "gone", "dear")] == [5, 0, 5]
    assert await history(layer) == []
    assert await outbox(layer) == []


async def test_a_debit_refused_by_the_points_service_rejects_and_gives_the_stock_back(layer):
    await layer.cataloguing.add(reward("tree", 250, stock=3))

    async def refunded() -> None:  # the balance falls after the catalog's check
        await layer.feed(refund("m-1", "r1", "p1", "300.00", T0 + timedelta(hours=1)))

    layer.link.before["/debits"] = refunded
    outcome = await layer.redeeming.redeem("m-1", "tree", "k1")

    assert outcome == Refused("insufficient_points", "not enough points for this reward")
    assert await layer.balance("m-1") == 0
    assert await stock(layer, "tree") == 3
    [rejected] = await history(layer)
    assert (rejected.status, rejected.failure) == (Status.REJECTED, "insufficient_points")
    assert await outbox(layer) == []
    assert await layer.redeeming.redeem("m-1", "tree", "k1") == Replayed(outcome)


async def test_the_same_key_replays_the_first_outcome_with_one_effect(layer):
    await layer.cataloguing.add(reward("coffee", 40, kind=RewardKind.COUPON, stock=10))
    before = await layer.balance("m-1")

    first = await layer.redeeming.redeem("m-1", "coffee", "same")
    again = await asyncio.gather(
        *(layer.redeeming.redeem("m-1", "coffee", "same") for _ in range(5))
    )

    assert isinstance(first, Redeemed)
    assert first.redemption.coupon_code
    assert again == [Replayed(first)] * 5
    assert await layer.balance("m-1") == before - 40
    assert await stock(layer, "coffee") == 9
    assert len(await outbox(layer)) == 1


async def test_a_key_used_for_another_reward_is_refused(layer):
    await layer.cataloguing.add(reward("coffee", 40))
    await layer.cataloguing.add(reward("tea", 30))
    first = await layer.redeeming.redeem("m-1", "coffee", "k1")

    with pytest.raises(KeyReused):
        await layer.redeeming.redeem("m-1", "tea", "k1")

    assert [r.reward_id for r in await history(layer)] == ["coffee"]
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(first)
    await layer.feed(purchase("m-2", "p2", "50.00", T0))
    theirs = await layer.redeeming.redeem("m-2", "tea", "k1")  # keys are per member
    assert isinstance(theirs, Redeemed)
    assert theirs.redemption.member_id == "m-2"


async def test_a_points_outage_leaves_the_redemption_pending_until_it_is_finished(layer):
    await layer.cataloguing.add(reward("coffee", 40))  # stock not counted: no balance asked
    before = await layer.balance("m-1")
    layer.link.up = False

    outcome = await layer.redeeming.redeem("m-1", "coffee", "k1")

    assert isinstance(outcome, Pending)
    waiting = outcome.redemption
    assert waiting.status is Status.PENDING
    assert await history(layer) == [waiting]
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(outcome)
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1  # still down: still pending
    assert (await history(layer))[0].status is Status.PENDING

    layer.link.up = True
    assert await layer.redeeming.finish_pending(timedelta(hours=1)) == 0  # within the grace
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1

    [finished] = await history(layer)
    assert (finished.redemption_id, finished.status) == (waiting.redemption_id, Status.CONFIRMED)
    assert await layer.balance("m-1") == before - 40
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(Redeemed(finished))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 0
    assert len(await outbox(layer)) == 1


async def test_a_dependency_down_before_anything_is_recorded_leaves_the_key_free(layer):
    await layer.cataloguing.add(reward("tree", 100, stock=2))  # counted: the balance is asked
    layer.link.up = False

    outcome = await layer.redeeming.redeem("m-1", "tree", "k1")

    assert isinstance(outcome, Unavailable)
    assert "points service" in outcome.message
    assert await history(layer) == []
    assert await stock(layer, "tree") == 2
    layer.link.up = True
    retried = await layer.redeeming.redeem("m-1", "tree", "k1")
    assert isinstance(retried, Redeemed)  # answered for real, not replayed
    assert await stock(layer, "tree") == 1


async def test_a_cancel_gives_points_and_stock_back_once(layer):
    await layer.cataloguing.add(reward("tree", 250, stock=1))
    before = await layer.balance("m-1")
    made = await layer.redeeming.redeem("m-1", "tree", "k1")
    assert isinstance(made, Redeemed)
    redemption_id = made.redemption.redemption_id

    layer.link.up = False
    assert await layer.redeeming.cancel(redemption_id) == Pending(made.redemption)
    assert (await layer.balance("m-1"), await stock(layer, "tree")) == (before - 250, 0)
    layer.link.up = True
    first, second = await asyncio.gather(
        layer.redeeming.cancel(redemption_id), layer.redeeming.cancel(redemption_id)
    )

    cancelled = made.redemption.cancelled()
    assert first == second == Cancelled(cancelled)
    assert await layer.redeeming.cancel(redemption_id) == Cancelled(cancelled)
    assert await layer.balance("m-1") == before
    assert await stock(layer, "tree") == 1
    assert await history(layer) == [cancelled]
    topic = layer.settings.kafka.topics.rewards_events
    assert await outbox(layer) == [
        (topic, REWARD_REDEEMED, redemption_id),
        (topic, REDEMPTION_CANCELLED, redemption_id),
    ]
    # The key still answers with the redemption as it was first given, and so does
    # finishing it again (a finisher that raced the cancel).
    assert await layer.redeeming.redeem("m-1", "tree", "k1") == Replayed(made)
    assert await layer.redeeming.finish(redemption_id) == made


async def test_a_rejected_or_unknown_redemption_cannot_be_cancelled(layer):
    await layer.cataloguing.add(reward("tree", 250, stock=3))

    async def refunded() -> None:
        await layer.feed(refund("m-1", "r1", "p1", "300.00", T0 + timedelta(hours=1)))

    layer.link.before["/debits"] = refunded
    assert isinstance(await layer.redeeming.redeem("m-1", "tree", "k1"), Refused)
    [rejected] = await history(layer)

    refused = await layer.redeeming.cancel(rejected.redemption_id)

    assert refused == Refused("not_redeemed", "this redemption took no points")
    assert await stock(layer, "tree") == 3
    assert await history(layer) == [rejected]
    unknown = await layer.redeeming.cancel("rd-" + "0" * 32)
    assert unknown == Refused("unknown_redemption", f"no redemption rd-{'0' * 32}", missing=True)
