"""Redeeming a reward: a saga between this service and the points service.

1. One transaction here: claim the idempotency key, check the catalog's rules, take
   one from the stock, record the redemption as pending. Committed before anything
   else, so a crash from here on leaves a trace to finish from.
2. Ask the points service to take the points, with the redemption id as the debit id.
   It keeps the debit, so asking again gives the same answer.
3. One transaction here: confirmed (and `reward.redeemed` in the outbox), or rejected
   with the stock given back; the outcome is kept under the idempotency key.

A redemption still pending after a crash or a points outage is finished by
`finish_pending`, which repeats step 2 (safe) and then step 3. Cancelling gives the
points back first (the points service restores a debit once), then the stock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.rewards import (
    REDEMPTION_CANCELLED,
    REWARD_REDEEMED,
    RedemptionMoved,
    redemption_event,
)
from loyalty_kernel.topics import TopicNames
from loyalty_rewards.adapters.clients import DebitAnswer, NoAnswer, PointsClient
from loyalty_rewards.domain.catalog import Refusal, Reward, refusal
from loyalty_rewards.domain.outcomes import (
    Cancelled,
    CancelOutcome,
    Finished,
    Pending,
    RedeemOutcome,
    Refused,
    Replayed,
    Settled,
    Unavailable,
    settled,
)
from loyalty_rewards.domain.redemption import Redemption, Status, new_redemption
from loyalty_rewards.service_layer.standing import Standings
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork

log = logging.getLogger(__name__)


class KeyReused(Exception):
    """The idempotency key was used before for another request."""


def request_hash(member_id: str, reward_id: str) -> str:
    """The request's fingerprint, as it has always been computed: keys kept before
    still match their requests."""
    body = {"reward_id": reward_id}
    canonical = json.dumps({"member": member_id, "body": body}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Redeeming:
    uow: Callable[[], RewardsUnitOfWork]
    points: PointsClient
    standings: Standings
    topics: TopicNames
    clock: Callable[[], datetime]
    # Called between the points debit and this side's commit; tests crash the process there.
    after_debit: Callable[[], None] = lambda: None

    async def redeem(self, member_id: str, reward_id: str, key: str) -> RedeemOutcome:
        """Redeem the reward for the member, once per `key`: asked again with the same
        key, the first request's outcome, `Replayed`."""
        fingerprint = request_hash(member_id, reward_id)
        claimed = await self._claim(member_id, reward_id, key, fingerprint)
        if claimed is None:
            return await self._replay(member_id, key, fingerprint)
        if isinstance(claimed, Redemption):
            return await self.finish(claimed.redemption_id, claimed)
        return claimed

    async def finish(self, redemption_id: str, known: Redemption | None = None) -> Finished:
        """Steps 2 and 3 for a pending redemption; for a settled one, its outcome."""
        redemption = known or await self._get(redemption_id)
        assert redemption is not None
        if redemption.status is not Status.PENDING:
            async with self.uow() as uow:
                outcome = await self._keep(uow, redemption)
                await uow.commit()
            return outcome
        try:
            taken = await self.points.debit(
                redemption_id, redemption.member_id, redemption.points, redemption.reward_id
            )
        except NoAnswer as exc:
            log.warning("redemption %s left pending: %s", redemption_id, exc)
            return Pending(redemption)
        self.after_debit()
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption_id, lock=True)
            assert current is not None
            if current.status is Status.PENDING:  # else another finisher got here first
                current = await self._settle(uow, current, taken)
            outcome = await self._keep(uow, current)
            await uow.commit()
        return outcome

    async def cancel(self, redemption_id: str) -> CancelOutcome:
        """Give a confirmed redemption's points and stock back, once; asked again, the
        same outcome."""
        redemption = await self._get(redemption_id)
        if redemption is None:
            return Refused("unknown_redemption", f"no redemption {redemption_id}", missing=True)
        if redemption.status is Status.PENDING:
            await self.finish(redemption_id)
            redemption = await self._get(redemption_id)
            assert redemption is not None
        if redemption.status is Status.PENDING:  # the points service did not answer
            return Pending(redemption)
        if redemption.status is Status.REJECTED:
            return Refused("not_redeemed", "this redemption took no points")
        if redemption.status is Status.CONFIRMED:
            try:
                await self.points.restore(redemption_id)
            except NoAnswer:
                return Pending(redemption)
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption_id, lock=True)
            assert current is not None
            if current.status is Status.CONFIRMED:
                current = current.cancelled()
                await uow.redemptions.settle(current)
                await uow.catalog.give_back_one(current.reward_id)
                event = redemption_moved(REDEMPTION_CANCELLED, current, self.clock())
                uow.outbox.add(self.topics.rewards_events, current.member_id, event)
            await uow.commit()
        return Cancelled(current)

    async def finish_pending(self, older_than: timedelta) -> int:
        """Finish redemptions left pending (a crash, a points outage). Returns how many."""
        async with self.uow() as uow:
            pending = await uow.redemptions.pending_before(self.clock() - older_than)
        for redemption_id in pending:
            await self.finish(redemption_id)
        return len(pending)

    async def offers(self, member_id: str) -> list[tuple[Reward, Refusal | None]]:
        """Every reward, and why this member cannot redeem it now (None: they can)."""
        now = self.clock()
        async with self.uow() as uow:
            rewards = await uow.catalog.all()
            standing = await self.standings.of(uow, member_id, rewards, now)
        return [(r, refusal(r, standing(r), self.standings.min_rank(r), now)) for r in rewards]

    async def history(self, member_id: str, limit: int) -> list[Redemption]:
        """The member's redemptions, the newest first."""
        async with self.uow() as uow:
            return await uow.redemptions.of_member(member_id, limit)

    async def _claim(
        self, member_id: str, reward_id: str, key: str, fingerprint: str
    ) -> Redemption | Refused | Unavailable | None:
        """Step 1: the pending redemption, or why there is none; None if the key was
        claimed before."""
        async with self.uow() as uow:
            # One claim at a time per member: a per-member limit counts the pending ones.
            await uow.redemptions.lock_member(member_id)
            redemption_id = f"rd-{uuid.uuid4().hex}"
            if not await uow.keys.claim(member_id, key, fingerprint, redemption_id):
                return None
            taken = await self._take(uow, member_id, reward_id, redemption_id)
            if isinstance(taken, Unavailable):
                return taken  # not committed: the key stays free for the retry
            if isinstance(taken, Refused):
                await uow.keys.record(member_id, key, taken)
            else:
                await uow.redemptions.add(taken)
            await uow.commit()
        return taken

    async def _take(
        self, uow: RewardsUnitOfWork, member_id: str, reward_id: str, redemption_id: str
    ) -> Redemption | Refused | Unavailable:
        """The catalog's rules, then one taken from the stock: the pending redemption."""
        reward = await uow.catalog.get(reward_id)
        if reward is None:
            return Refused("unknown_reward", f"no reward {reward_id}", missing=True)
        now = self.clock()
        # The balance is checked for good by the points service when it takes the points.
        # Asked here only where stock is counted, so that a member who cannot pay does not
        # hold the last ones while the debit is refused.
        try:
            standing = await self.standings.of(
                uow, member_id, [reward], now, balance=reward.stock is not None
            )
        except NoAnswer as exc:
            return Unavailable(str(exc))
        found = refusal(reward, standing(reward), self.standings.min_rank(reward), now)
        if found is not None:
            return Refused(found.code, found.message)
        if not await uow.catalog.take_one(reward_id):
            return Refused("out_of_stock", "none left")
        return new_redemption(redemption_id, member_id, reward, now)

    async def _settle(
        self, uow: RewardsUnitOfWork, redemption: Redemption, taken: DebitAnswer
    ) -> Redemption:
        """Step 3 for the points service's answer: confirmed, or rejected with the
        stock given back."""
        if taken.taken:
            settled_now = redemption.confirmed()
            event = redemption_moved(REWARD_REDEEMED, settled_now, self.clock())
            uow.outbox.add(self.topics.rewards_events, settled_now.member_id, event)
        else:
            settled_now = redemption.rejected(taken.refusal)
            await uow.catalog.give_back_one(redemption.reward_id)
        await uow.redemptions.settle(settled_now)
        return settled_now

    async def _keep(self, uow: RewardsUnitOfWork, redemption: Redemption) -> Settled:
        """The outcome under the redemption's idempotency key: the first one given stays."""
        stored = await uow.keys.for_redemption(redemption.redemption_id)
        if stored is not None and stored.outcome is not None:
            return stored.outcome
        outcome = settled(redemption)
        if stored is not None:
            await uow.keys.record(stored.member_id, stored.key, outcome)
        return outcome

    async def _replay(self, member_id: str, key: str, fingerprint: str) -> Replayed | Refused:
        """The first outcome for a key used before; finishes the work if still pending."""
        async with self.uow() as uow:
            stored = await uow.keys.get(member_id, key)
        assert stored is not None
        if stored.request_hash != fingerprint:
            raise KeyReused("this Idempotency-Key was used for another request")
        if stored.outcome is not None:
            return Replayed(stored.outcome)
        if await self._get(stored.redemption_id) is None:
            # The first request is still between its claim and its commit.
            return Refused("in_progress", "the same request is being handled; retry")
        return Replayed(await self.finish(stored.redemption_id))

    async def _get(self, redemption_id: str) -> Redemption | None:
        async with self.uow() as uow:
            return await uow.redemptions.get(redemption_id)


def redemption_moved(kind: str, redemption: Redemption, at: datetime) -> CloudEvent:
    data = RedemptionMoved(
        member_id=redemption.member_id,
        redemption_id=redemption.redemption_id,
        reward_id=redemption.reward_id,
        points=redemption.points,
    )
    return redemption_event(kind, data, at)
