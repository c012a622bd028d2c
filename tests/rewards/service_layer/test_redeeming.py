"""The redemption saga driven through the service layer, on the real database with the
real points service beside it: the outcomes it returns and what each leaves behind
(points, stock, redemptions, keys, outbox)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
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


class Clock:
    """The rewards service's wall clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def timed(platform_database, kafka):
    """The service layer on a clock the test moves (`timed.redeeming.clock.now`)."""
    async with rewards_layer(platform_database, kafka, Clock(T0)) as found:
        await found.feed(purchase("m-1", "p1", "300.00", T0))
        yield found


def later(layer: Layer, by: timedelta) -> None:
    clock = layer.redeeming.clock
    assert isinstance(clock, Clock)
    clock.now += by


async def test_a_points_outage_leaves_the_redemption_pending_until_it_is_finished(timed):
    layer = timed
    await layer.cataloguing.add(reward("coffee", 40))  # stock not counted: no balance asked
    before = await layer.balance("m-1")
    layer.link.up = False

    outcome = await layer.redeeming.redeem("m-1", "coffee", "k1")

    assert isinstance(outcome, Pending)
    waiting = outcome.redemption
    assert waiting.status is Status.PENDING
    assert await history(layer) == [waiting]
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(outcome)
    # Asked twice without an answer: tried again 10 s on, not before.
    assert await layer.redeeming.finish_pending(timedelta(0)) == 0
    later(layer, timedelta(seconds=10))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1  # still down: still pending
    assert (await history(layer))[0].status is Status.PENDING
    assert await layer.redeeming.unfinished() == (1, T0)

    layer.link.up = True
    later(layer, timedelta(seconds=19))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 0  # its turn is at 20 s
    later(layer, timedelta(seconds=1))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1

    [finished] = await history(layer)
    assert (finished.redemption_id, finished.status) == (waiting.redemption_id, Status.CONFIRMED)
    assert await layer.balance("m-1") == before - 40
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(Redeemed(finished))
    later(layer, timedelta(days=1))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 0
    assert await layer.redeeming.unfinished() == (0, None)
    assert len(await outbox(layer)) == 1


async def test_a_redemption_left_pending_by_a_crash_waits_out_the_grace(timed):
    layer = timed
    await layer.cataloguing.add(reward("coffee", 40))

    def crash() -> None:
        raise SystemExit("killed between the debit and the commit")

    layer.redeeming.after_debit = crash
    with pytest.raises(SystemExit):
        await layer.redeeming.redeem("m-1", "coffee", "k1")
    layer.redeeming.after_debit = lambda: None

    assert await layer.redeeming.finish_pending(timedelta(seconds=10)) == 0  # within the grace
    later(layer, timedelta(seconds=11))
    assert await layer.redeeming.finish_pending(timedelta(seconds=10)) == 1
    [finished] = await history(layer)
    assert finished.status is Status.CONFIRMED
    assert await layer.redeeming.redeem("m-1", "coffee", "k1") == Replayed(Redeemed(finished))


@pytest.mark.parametrize("status", [500, 502, 503, 401, 403, 404, 429])
async def test_a_debit_answer_that_says_nothing_of_the_debit_leaves_it_pending(timed, status):
    layer = timed
    await layer.cataloguing.add(reward("tree", 100, stock=2))
    layer.link.answers["/debits"] = httpx.Response(status, text="not now")

    outcome = await layer.redeeming.redeem("m-1", "tree", "k1")

    assert isinstance(outcome, Pending)
    assert await stock(layer, "tree") == 1  # held: the points may yet be taken
    del layer.link.answers["/debits"]
    later(layer, timedelta(seconds=5))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1
    [finished] = await history(layer)
    assert finished.status is Status.CONFIRMED


async def test_a_debit_the_points_service_refuses_as_invalid_is_rejected_at_once(timed):
    layer = timed
    await layer.cataloguing.add(reward("tree", 100, stock=2))
    before = await layer.balance("m-1")
    error = {"error": {"code": "conflicting_debit", "message": "used for other facts"}}
    layer.link.answers["/debits"] = httpx.Response(422, json=error)

    outcome = await layer.redeeming.redeem("m-1", "tree", "k1")

    assert outcome == Refused("conflicting_debit", "refused: conflicting_debit")
    [rejected] = await history(layer)
    assert (rejected.status, rejected.failure) == (Status.REJECTED, "conflicting_debit")
    assert await stock(layer, "tree") == 2
    assert await layer.balance("m-1") == before
    assert await layer.redeeming.unfinished() == (0, None)


async def test_stuck_redemptions_do_not_hold_up_the_ones_behind_them(timed):
    """A hundred the points service keeps failing, then one it answers: the background
    pass reaches the new one on its first round, and the stuck ones wait their turn."""
    layer = timed
    await layer.cataloguing.add(reward("sticker", 1))
    layer.link.answers["/debits"] = httpx.Response(500, text="broken")
    for n in range(100):
        await layer.feed(purchase(f"s-{n}", f"sp-{n}", "10.00", T0))
        assert isinstance(await layer.redeeming.redeem(f"s-{n}", "sticker", "k"), Pending)
    later(layer, timedelta(seconds=5))
    assert await layer.redeeming.finish_pending(timedelta(0), limit=100) == 100  # all fail again

    del layer.link.answers["/debits"]
    layer.link.up = False
    assert isinstance(await layer.redeeming.redeem("m-1", "sticker", "k"), Pending)
    layer.link.up = True
    later(layer, timedelta(seconds=5))
    assert await layer.redeeming.finish_pending(timedelta(0), limit=10) == 1

    done = {r.member_id: r.status for r in await layer.redeeming.history("m-1", 5)}
    assert done == {"m-1": Status.CONFIRMED}
    assert (await layer.redeeming.unfinished())[0] == 100
    later(layer, timedelta(seconds=5))
    assert await layer.redeeming.finish_pending(timedelta(0), limit=100) == 100
    assert await layer.redeeming.unfinished() == (0, None)


async def test_a_slow_points_service_holds_no_lock_and_no_connection(layer):
    """While one request waits on the balance, the same member's other redemption (no
    balance needed) goes through, and the pool holds no connection for the waiting one."""
    await layer.cataloguing.add(reward("tree", 100, stock=5))  # counted: the balance is asked
    await layer.cataloguing.add(reward("coffee", 40))
    asked, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        asked.set()
        await release.wait()

    layer.link.before["/balance"] = slow
    waiting = asyncio.create_task(layer.redeeming.redeem("m-1", "tree", "k1"))
    await asyncio.wait_for(asked.wait(), 10)

    assert layer.engine.pool.checkedout() == 0
    other = await asyncio.wait_for(layer.redeeming.redeem("m-1", "coffee", "k2"), 10)
    assert isinstance(other, Redeemed)
    release.set()
    assert isinstance(await waiting, Redeemed)


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
    assert await layer.redeeming.cancel(redemption_id) == Pending(made.redemption.cancelling())
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


async def test_a_crash_after_the_points_came_back_leaves_a_cancel_to_finish(timed):
    layer = timed
    await layer.cataloguing.add(reward("tree", 250, stock=1))
    before = await layer.balance("m-1")
    made = await layer.redeeming.redeem("m-1", "tree", "k1")
    assert isinstance(made, Redeemed)
    redemption_id = made.redemption.redemption_id

    def crash() -> None:
        raise SystemExit("killed between the restore and the commit")

    layer.redeeming.after_restore = crash
    with pytest.raises(SystemExit):
        await layer.redeeming.cancel(redemption_id)
    layer.redeeming.after_restore = lambda: None

    [halfway] = await history(layer)
    assert halfway.status is Status.CANCELLING  # not confirmed with its points back
    assert await layer.balance("m-1") == before
    assert await stock(layer, "tree") == 0  # still held until the cancel is finished
    later(layer, timedelta(seconds=1))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1

    cancelled = made.redemption.cancelled()
    assert await history(layer) == [cancelled]
    assert await layer.balance("m-1") == before
    assert await stock(layer, "tree") == 1
    assert await layer.redeeming.cancel(redemption_id) == Cancelled(cancelled)
    events = [kind for _, kind, _ in await outbox(layer)]
    assert events == [REWARD_REDEEMED, REDEMPTION_CANCELLED]


async def test_a_cancel_the_points_service_does_not_answer_is_finished_later(timed):
    layer = timed
    await layer.cataloguing.add(reward("tree", 250, stock=1))
    made = await layer.redeeming.redeem("m-1", "tree", "k1")
    assert isinstance(made, Redeemed)
    layer.link.answers["/restore"] = httpx.Response(503, text="later")

    outcome = await layer.redeeming.cancel(made.redemption.redemption_id)

    assert outcome == Pending(made.redemption.cancelling())
    del layer.link.answers["/restore"]
    later(layer, timedelta(seconds=5))
    assert await layer.redeeming.finish_pending(timedelta(0)) == 1
    [cancelled] = await history(layer)
    assert cancelled.status is Status.CANCELLED
    assert await stock(layer, "tree") == 1


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
