"""A member as the catalog's rules see them: balance, tier, and redemptions within
each reward's limit period, asked of the points and tier services and the database."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.programme import TierPolicy
from loyalty_rewards.adapters.clients import PointsClient
from loyalty_rewards.domain.catalog import MemberStanding, Reward
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork

MAX_POINTS = 2**62  # a balance not asked for: the points service decides


@dataclass
class Standings:
    points: PointsClient
    tier_of: Callable[[str], Awaitable[str | None]]
    policy: TierPolicy

    async def of(
        self,
        uow: RewardsUnitOfWork,
        member_id: str,
        rewards: list[Reward],
        now: datetime,
        *,
        balance: bool = True,
    ) -> Callable[[Reward], MemberStanding]:
        """The member as each reward's rules see them: balance (unless not asked for:
        then taken as enough), tier, redemptions in the reward's own limit period.
        Raises `NoAnswer` if the points or tier service does not answer."""
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
