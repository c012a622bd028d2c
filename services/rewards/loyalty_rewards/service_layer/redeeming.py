"""Redeeming a reward: a saga between this service and the points service.

0. Ask the points and tier services what the catalog's rules need (balance, tier),
   before any transaction opens: a slow dependency holds no connection and no lock.
1. One transaction here: claim the idempotency key, check the catalog's rules, take
   one from the stock, record the redemption as pending. Committed before anything
   else, so a crash from here on leaves a trace to finish from.
2. Ask the points service to take the points, with the redemption id as the debit id.
   It keeps the debit, so asking again gives the same answer.
3. One transaction here: confirmed (and `reward.redeemed` in the outbox), or rejected
   with the stock given back; the outcome is kept under the idempotency key.

Cancelling is the same shape: `cancelling` is committed first, then the points are
given back (the points service restores a debit once), then `cancelled` with the stock
and the event. A redemption left pending or cancelling by a crash or an outage is
finished by `finish_pending`, which repeats the call (safe) and the step after it; one
the points service does not answer for is tried again later and later, so a few stuck
ones never hold up the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
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
from loyalty_rewards.domain.redemption import Redemption, Status
from loyalty_rewards.service_layer.claiming import Claims
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
    # Called between the points call and this side's commit; tests crash the process there.
    after_debit: Callable[[], None] = lambda: None
    after_restore: Callable[[], None] = lambda: None
    parallel: int = 8  # unfinished redemptions the background pass finishes at a time

    def __post_init__(self) -> None:
        self.claims = Claims(self.uow, self.standings, self.clock)

    async def redeem(self, member_id: str, reward_id: str, key: str) -> RedeemOutcome:
        """Redeem the reward for the member, once per `key`: asked again with the same
        key, the first request's outcome, `Replayed`."""
        fingerprint = request_hash(member_id, reward_id)
        if await self.claims.key_used(member_id, key):
            return await self._replay(member_id, key, fingerprint)
        asked = await self.claims.ask(member_id, reward_id)
        if isinstance(asked, Unavailable):
            return asked
        claimed = await self.claims.claim(member_id, reward_id, key, fingerprint, asked)
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
            await self._put_off(redemption, exc)
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
            redemption = await self._start_cancelling(redemption_id)
        if redemption.status is Status.CANCELLING:
            return await self._finish_cancelling(redemption)
        return Cancelled(redemption)

    async def _start_cancelling(self, redemption_id: str) -> Redemption:
        """Record that the points are being given back, before asking for them: a crash
        after the restore then leaves a cancel to finish, not a confirmed redemption
        whose points came back."""
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption_id, lock=True)
            assert current is not None
            if current.status is Status.CONFIRMED:
                current = current.cancelling()
                await uow.redemptions.settle(current)
            await uow.commit()
        return current

    async def _finish_cancelling(self, redemption: Redemption) -> CancelOutcome:
        try:
            await self.points.restore(redemption.redemption_id)
        except NoAnswer as exc:
            await self._put_off(redemption, exc)
            return Pending(redemption)
        self.after_restore()
        async with self.uow() as uow:
            current = await uow.redemptions.get(redemption.redemption_id, lock=True)
            assert current is not None
            if current.status is Status.CANCELLING:  # else another finisher got here first
                current = current.cancelled()
                await uow.redemptions.settle(current)
                await uow.catalog.give_back_one(current.reward_id)
                event = redemption_moved(REDEMPTION_CANCELLED, current, self.clock())
                uow.outbox.add(self.topics.rewards_events, current.member_id, event)
            await uow.commit()
        return Cancelled(current)

    async def finish_pending(self, grace: timedelta, *, limit: int = 100) -> int:
        """Finish redemptions left pending or cancelling (a crash, a points outage) whose
        turn has come: never tried again and older than `grace`, or due again after an
        unanswered attempt. At most `limit`, `parallel` at a time. Returns how many."""
        async with self.uow() as uow:
            due = await uow.redemptions.due(self.clock(), grace, limit)
        gate = asyncio.Semaphore(self.parallel)

        async def resume(redemption_id: str) -> None:
            async with gate:
                try:
                    await self._resume(redemption_id)
                except Exception:  # one failure must not stop the others
                    log.exception("finishing redemption %s failed", redemption_id)

        await asyncio.gather(*(resume(r) for r in due))
        return len(due)

    async def _resume(self, redemption_id: str) -> None:
        redemption = await self._get(redemption_id)
        if redemption is not None and redemption.status is Status.CANCELLING:
            await self._finish_cancelling(redemption)
        elif redemption is not None:
            await self.finish(redemption_id, redemption)

    async def unfinished(self) -> tuple[int, datetime | None]:
        """How many redemptions wait on the points service, and since when the oldest."""
        async with self.uow() as uow:
            return await uow.redemptions.unfinished()

    async def _put_off(self, redemption: Redemption, why: NoAnswer) -> None:
        """The points service did not answer: try this one again later, and later."""
        async with self.uow() as uow:
            again = await uow.redemptions.put_off(redemption.redemption_id, str(why), self.clock())
            await uow.commit()
        log.warning(
            "redemption %s (%s) waits until %s: %s",
            redemption.redemption_id,
            redemption.status.value,
            again.isoformat(),
            why,
        )

    async def offers(self, member_id: str) -> list[tuple[Reward, Refusal | None]]:
        """Every reward, and why this member cannot redeem it now (None: they can)."""
        now = self.clock()
        async with self.uow() as uow:
            rewards = await uow.catalog.all()
        tier = any(r.min_tier is not None for r in rewards)
        asked = await self.standings.ask(member_id, tier=tier)
        async with self.uow() as uow:
            standing = await self.standings.of(uow, member_id, asked, rewards, now)
        return [(r, refusal(r, standing(r), self.standings.min_rank(r), now)) for r in rewards]

    async def history(self, member_id: str, limit: int) -> list[Redemption]:
        """The member's redemptions, the newest first."""
        async with self.uow() as uow:
            return await uow.redemptions.of_member(member_id, limit)

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
