"""A member as the catalog's rules see them: balance and tier, asked of the points and
tier services, and redemptions within each reward's limit period, from the database.

The two are asked apart: the calls to other services are made before any transaction
opens, so a slow dependency never holds a database connection or a member's lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.programme import TierPolicy
from loyalty_rewards.adapters.clients import PointsClient, Spendable
from loyalty_rewards.domain.catalog import MemberStanding, Reward
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork

MAX_POINTS = 2**62  # a balance not asked for: the points service decides


@dataclass(frozen=True)
class Asked:
    """What the other services said of a member."""

    tier: str | None
    points: Spendable


@dataclass
class Standings:
    points: PointsClient
    tier_of: Callable[[str], Awaitable[str | None]]
    policy: TierPolicy

    async def ask(self, member_id: str, *, tier: bool = True, balance: bool = True) -> Asked:
        """The member's tier (unless not asked for: then the lowest) and balance (unless
        not asked for: then taken as enough). Raises `NoAnswer` if the points or tier
        service does not answer."""
        held = await self.tier_of(member_id) if tier else None
        points = await self.points.spendable(member_id) if balance else Spendable(MAX_POINTS)
        return Asked(held, points)

    async def of(
        self,
        uow: RewardsUnitOfWork,
        member_id: str,
        asked: Asked,
        rewards: list[Reward],
        now: datetime,
    ) -> Callable[[Reward], MemberStanding]:
        """The member as each reward's rules see them: what `asked` says, and their
        redemptions in each reward's own limit period."""
        # One query for every limited reward, back to the longest period; each reward
        # then counts only within its own.
        starts = {r.reward_id: now - r.limit_period for r in rewards if r.limit_period}
        used: Counter[str] = Counter()
        if starts:
            made = await uow.redemptions.live_times(member_id, list(starts), min(starts.values()))
            used.update(reward_id for reward_id, at in made if at >= starts[reward_id])
        rank = self.rank(asked.tier)
        points = asked.points
        return lambda r: MemberStanding(member_id, points.available, rank, used[r.reward_id],
                                        points.later)  # fmt: skip

    def rank(self, tier: str | None) -> int:
        return 0 if tier is None else self.policy.rank(self.policy.level_named(tier))

    def min_rank(self, reward: Reward) -> int:
        return self.rank(reward.min_tier)
