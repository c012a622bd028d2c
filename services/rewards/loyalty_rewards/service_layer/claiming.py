"""Steps 0 and 1 of a redemption (see `redeeming`): what the other services say of the
member, asked holding nothing; then, in one transaction under the member's lock, the
idempotency key claimed, the catalog's rules checked and one taken from the stock."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loyalty_rewards.adapters.clients import NoAnswer
from loyalty_rewards.domain.catalog import refusal
from loyalty_rewards.domain.outcomes import Refused, Unavailable
from loyalty_rewards.domain.redemption import Redemption, new_redemption
from loyalty_rewards.service_layer.standing import Asked, Standings
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork


@dataclass
class Claims:
    uow: Callable[[], RewardsUnitOfWork]
    standings: Standings
    clock: Callable[[], datetime]

    async def key_used(self, member_id: str, key: str) -> bool:
        async with self.uow() as uow:
            return await uow.keys.get(member_id, key) is not None

    async def ask(self, member_id: str, reward_id: str) -> Asked | Unavailable | None:
        """Step 0: what the other services say of the member, as far as this reward's
        rules need it; None for a reward that does not exist."""
        async with self.uow() as uow:
            reward = await uow.catalog.get(reward_id)
        if reward is None:
            return None
        # The balance is checked for good by the points service when it takes the points.
        # Asked here only where stock is counted, so that a member who cannot pay does not
        # hold the last ones while the debit is refused.
        try:
            return await self.standings.ask(
                member_id, tier=reward.min_tier is not None, balance=reward.stock is not None
            )
        except NoAnswer as exc:
            return Unavailable(str(exc))

    async def claim(
        self, member_id: str, reward_id: str, key: str, fingerprint: str, asked: Asked | None
    ) -> Redemption | Refused | Unavailable | None:
        """Step 1: the pending redemption, or why there is none; None if the key was
        claimed before."""
        async with self.uow() as uow:
            # One claim at a time per member: a per-member limit counts the pending ones.
            await uow.redemptions.lock_member(member_id)
            redemption_id = f"rd-{uuid.uuid4().hex}"
            if not await uow.keys.claim(member_id, key, fingerprint, redemption_id):
                return None
            taken = await self._take(uow, member_id, reward_id, redemption_id, asked)
            if isinstance(taken, Unavailable):
                return taken  # not committed: the key stays free for the retry
            if isinstance(taken, Refused):
                await uow.keys.record(member_id, key, taken)
            else:
                await uow.redemptions.add(taken)
            await uow.commit()
        return taken

    async def _take(
        self,
        uow: RewardsUnitOfWork,
        member_id: str,
        reward_id: str,
        redemption_id: str,
        asked: Asked | None,
    ) -> Redemption | Refused | Unavailable:
        """The catalog's rules, then one taken from the stock: the pending redemption."""
        reward = await uow.catalog.get(reward_id)
        if reward is None:
            return Refused("unknown_reward", f"no reward {reward_id}", missing=True)
        if asked is None:  # added since step 0
            return Unavailable("the catalog changed meanwhile; retry")
        now = self.clock()
        standing = await self.standings.of(uow, member_id, asked, [reward], now)
        found = refusal(reward, standing(reward), self.standings.min_rank(reward), now)
        if found is not None:
            return Refused(found.code, found.message)
        if not await uow.catalog.take_one(reward_id):
            return Refused("out_of_stock", "none left")
        return new_redemption(redemption_id, member_id, reward, now)
