"""Redeeming a reward: a saga between this service and the points service.

1. One transaction here: claim the idempotency key, check the catalog's rules, take
   one from the stock, record the redemption as pending. Committed before anything
   else, so a crash from here on leaves a trace to finish from.
2. Ask the points service to take the points, with the redemption id as the debit id.
   It keeps the debit, so asking again gives the same answer.
3. One transaction here: confirmed (and `reward.redeemed` in the outbox), or rejected
   with the stock given back; the answer is stored under the idempotency key.

A redemption still pending after a crash or a points outage is finished by
`finish_pending`, which repeats step 2 (safe) and then step 3. Cancelling gives the
points back first (the points service restores a debit once), then the stock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.rewards import (
    REDEMPTION_CANCELLED,
    REWARD_REDEEMED,
    RedemptionMoved,
    redemption_event,
)
from loyalty_kernel.programme import TierPolicy
from loyalty_kernel.topics import TopicNames
from loyalty_rewards.adapters.clients import PointsClient, Unavailable
from loyalty_rewards.domain.catalog import MemberStanding, Refusal, Reward, refusal
from loyalty_rewards.domain.redemption import Redemption, Status, new_redemption
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as stored under an idempotency key: replayed byte for byte."""

    status: int
    body: dict[str, Any]


MAX_POINTS = 2**62  # a balance not asked for: the points service decides

REJECTIONS = {
    "insufficient_points": "not enough points for this reward",
    "negative_balance": "nothing can be redeemed while the balance is negative",
}


class KeyReused(Exception):
    """The idempotency key was used before for another request."""


def request_hash(member_id: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"member": member_id, "body": body}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def error_answer(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"error": {"code": code, "message": message, "details": None}})


@dataclass
class Redeeming:
    uow: Callable[[], RewardsUnitOfWork]
    points: PointsClient
    tier_of: Callable[[str], Awaitable[str | None]]
    policy: TierPolicy
    topics: TopicNames
    clock: Callable[[], datetime]
    # Called between the points debit and this side's commit; tests crash the process there.
    after_debit: Callable[[], None] = lambda: None

    async def redeem(
        self, member_id: str, reward_id: str, key: str, body: dict[str, Any]
    ) -> Answer:
        fingerprint = request_hash(member_id, body)
        redemption_id = f"rd-{uuid.uuid4().hex}"
        async with self.uow() as uow:
            # One claim at a time per member: a per-member limit counts the pending ones.
            await uow.redemptions.lock_member(member_id)
            if not await uow.keys.claim(member_id, key, fingerprint, redemption_id):
                await uow.commit()
                return await self._replay(member_id, key, fingerprint)
            reward = await uow.catalog.get(reward_id)
            if reward is None:
                answer = error_answer(404, "unknown_reward", f"no reward {reward_id}")
                await uow.keys.answer(member_id, key, answer.status, json.dumps(answer.body))
                await uow.commit()
                return answer
            now = self.clock()
            refused = await self._refusal(uow, reward, member_id, now)
            if refused is None and not await uow.catalog.take_one(reward_id):
                refused = error_answer(409, "out_of_stock", "none left")
            if refused is not None and refused.status >= 500:
                return refused  # not committed: the key stays free for the retry
            if refused is not None:
                await uow.keys.answer(member_id, key, refused.status, json.dumps(refused.body))
                await uow.commit()
                return refused
            pending = new_redemption(redemption_id, member_id, reward, now)
            await uow.redemptions.add(pending)
            await uow.commit()
        return await self.finish(redemption_id, pending)

    async def finish(self, redemption_id: str, known: Redemption | None = None) -> Answer:
        """Steps 2 and 3 for a pending redemption; for a settled one, its answer."""
        redemption = known
        if redemption is None:
            async with self.uow() as uow:
                redemption = await uow.redemptions.get(redemption_id)
        assert redemption is not None
        if redemption.status is not Status.PENDING:
            async with self.uow() as uow:
                answer = await self._store_answer(uow, redemption)
                await uow.commit()
            return answer
        try:
            taken = await self.points.debit(
                redemption_id, redemption.member_id, redemption.points, redemption.reward_id
            )
        except Unavailable as exc:
            log.warning("redemption %s left pending: %s", redemption_id, exc)
            return error_answer(503, "points_unavailable", "try again shortly; nothing is lost")
        self.after_debit()
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption_id, lock=True)
            assert current is not None
            if current.status is Status.PENDING:  # else another finisher got here first
                if taken.taken:
                    current = replace(current, status=Status.CONFIRMED)
                    event = redemption_moved(REWARD_REDEEMED, current, self.clock())
                    uow.outbox.add(self.topics.rewards_events, current.member_id, event)
                else:
                    current = replace(current, status=Status.REJECTED, failure=taken.refusal)
                    await uow.catalog.give_back_one(current.reward_id)
                await uow.redemptions.settle(current)
            answer = await self._store_answer(uow, current)
            await uow.commit()
        return answer

    async def cancel(self, redemption_id: str) -> Answer:
        async with self.uow() as uow:
            redemption = await uow.redemptions.get(redemption_id)
        if redemption is None:
            return error_answer(404, "unknown_redemption", f"no redemption {redemption_id}")
        if redemption.status is Status.PENDING:
            await self.finish(redemption_id)
        async with self.uow() as uow:
            redemption = await uow.redemptions.get(redemption_id)
        assert redemption is not None
        if redemption.status is Status.PENDING:  # the points service did not answer
            return error_answer(503, "points_unavailable", "try again shortly; nothing is lost")
        if redemption.status is Status.REJECTED:
            return error_answer(409, "not_redeemed", "this redemption took no points")
        if redemption.status is Status.CONFIRMED:
            try:
                await self.points.restore(redemption_id)
            except Unavailable:
                return error_answer(503, "points_unavailable", "try again shortly; nothing is lost")
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption_id, lock=True)
            assert current is not None
            if current.status is Status.CONFIRMED:
                current = replace(current, status=Status.CANCELLED)
                await uow.redemptions.settle(current)
                await uow.catalog.give_back_one(current.reward_id)
                event = redemption_moved(REDEMPTION_CANCELLED, current, self.clock())
                uow.outbox.add(self.topics.rewards_events, current.member_id, event)
            await uow.commit()
        return self.answer_for(current)

    async def finish_pending(self, older_than: timedelta) -> int:
        """Finish redemptions left pending (a crash, a points outage). Returns how many."""
        async with self.uow() as uow:
            pending = await uow.redemptions.pending_before(self.clock() - older_than)
        for redemption_id in pending:
            await self.finish(redemption_id)
        return len(pending)

    async def _store_answer(self, uow: RewardsUnitOfWork, redemption: Redemption) -> Answer:
        """The answer under the redemption's idempotency key: the first one given stays."""
        stored = await uow.keys.for_redemption(redemption.redemption_id)
        if stored is not None and stored.response_status is not None and stored.response_body:
            return Answer(stored.response_status, json.loads(stored.response_body))
        answer = self.answer_for(redemption)
        if stored is not None:
            await uow.keys.answer(
                stored.member_id, stored.key, answer.status, json.dumps(answer.body)
            )
        return answer

    def answer_for(self, redemption: Redemption) -> Answer:
        if redemption.status is Status.REJECTED:
            code = redemption.failure or "refused"
            return error_answer(409, code, REJECTIONS.get(code, f"refused: {code}"))
        return Answer(201, redemption_body(redemption))

    async def _replay(self, member_id: str, key: str, fingerprint: str) -> Answer:
        """The stored answer for a key used before; finishes the work if still pending."""
        async with self.uow() as uow:
            stored = await uow.keys.get(member_id, key)
        assert stored is not None
        if stored.request_hash != fingerprint:
            raise KeyReused("this Idempotency-Key was used for another request")
        if stored.response_status is not None and stored.response_body is not None:
            return Answer(stored.response_status, json.loads(stored.response_body))
        async with self.uow() as uow:
            redemption = await uow.redemptions.get(stored.redemption_id)
        if redemption is None:  # the first request is still between its claim and commit
            return error_answer(409, "in_progress", "the same request is being handled; retry")
        return await self.finish(stored.redemption_id)

    async def offers(self, member_id: str) -> list[tuple[Reward, Refusal | None]]:
        """Every reward, and why this member cannot redeem it now (None: they can)."""
        now = self.clock()
        async with self.uow() as uow:
            rewards = await uow.catalog.all()
            standing = await self._standing(uow, member_id, rewards, now)
        return [(r, refusal(r, standing(r), self.min_rank(r), now)) for r in rewards]

    async def _refusal(
        self, uow: RewardsUnitOfWork, reward: Reward, member_id: str, now: datetime
    ) -> Answer | None:
        # The balance is checked for good by the points service when it takes the points.
        # Asked here only where stock is counted, so that a member who cannot pay does not
        # hold the last ones while the debit is refused.
        try:
            standing = await self._standing(
                uow, member_id, [reward], now, balance=reward.stock is not None
            )
        except Unavailable as exc:
            return error_answer(503, "dependency_unavailable", str(exc))
        found = refusal(reward, standing(reward), self.min_rank(reward), now)
        return None if found is None else error_answer(409, found.code, found.message)

    async def _standing(
        self,
        uow: RewardsUnitOfWork,
        member_id: str,
        rewards: list[Reward],
        now: datetime,
        *,
        balance: bool = True,
    ) -> Callable[[Reward], MemberStanding]:
        """The member as each reward's rules see them: balance (unless not asked for:
        then taken as enough), tier, redemptions in the reward's own limit period."""
        tier = await self.tier_of(member_id)
        points = await self.points.balance(member_id) if balance else MAX_POINTS
        # One query for every limited reward, back to the longest period; each reward
        # then counts only within its own.
        starts = {r.reward_id: now - r.limit_period for r in rewards if r.limit_period}
        used: Counter[str] = Counter()
        if starts:
            made = await uow.redemptions.live_times(member_id, list(starts), min(starts.values()))
            used.update(reward_id for reward_id, at in made if at >= starts[reward_id])
        rank = self.rank(tier)
        return lambda r: MemberStanding(member_id, points, rank, used[r.reward_id])

    def rank(self, tier: str | None) -> int:
        return 0 if tier is None else self.policy.rank(self.policy.level_named(tier))

    def min_rank(self, reward: Reward) -> int:
        return self.rank(reward.min_tier)


def redemption_body(redemption: Redemption) -> dict[str, Any]:
    return {
        "redemption_id": redemption.redemption_id,
        "member_id": redemption.member_id,
        "reward_id": redemption.reward_id,
        "points": redemption.points,
        "status": redemption.status.value,
        "coupon_code": redemption.coupon_code,
        "created_at": redemption.created_at.isoformat().replace("+00:00", "Z"),
    }


def redemption_moved(kind: str, redemption: Redemption, at: datetime) -> CloudEvent:
    data = RedemptionMoved(
        member_id=redemption.member_id,
        redemption_id=redemption.redemption_id,
        reward_id=redemption.reward_id,
        points=redemption.points,
    )
    return redemption_event(kind, data, at)
