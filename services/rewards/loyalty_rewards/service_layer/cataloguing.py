"""Keeping the catalog: rewards added from the catalog file or by an admin, changed,
deactivated and restocked, each in one unit of work."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loyalty_rewards.adapters.catalog_file import load_catalog
from loyalty_rewards.domain.catalog import Reward
from loyalty_rewards.service_layer.unit_of_work import RewardsUnitOfWork


class UnknownReward(Exception):
    """No reward has this id."""

    def __init__(self, reward_id: str) -> None:
        super().__init__(f"no reward {reward_id}")


class RewardExists(Exception):
    """A reward with this id exists: it is kept as it is."""

    def __init__(self, reward_id: str) -> None:
        super().__init__(f"a reward {reward_id} exists")


class UnknownTier(Exception):
    """A reward's `min_tier` is not a tier of the programme."""

    def __init__(self, tiers: Sequence[str]) -> None:
        super().__init__(f"min_tier must be one of {', '.join(tiers)}")


@dataclass(frozen=True)
class Problem:
    """What breaks a rule: in `field`, or between fields when `field` is empty."""

    field: str
    problem: str


class InvalidChange(Exception):
    """The change would leave the reward breaking a rule; `problems` says which."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("the change would make the reward invalid")
        self.problems = list(problems)


# What is wrong with a reward, field by field; nothing when it keeps every rule.
Check = Callable[[Reward], Sequence[Problem]]


@dataclass
class Cataloguing:
    uow: Callable[[], RewardsUnitOfWork]
    tiers: Sequence[str]  # the programme's tiers, lowest first

    async def rewards(self) -> list[Reward]:
        """Every reward, the cheapest first."""
        async with self.uow() as uow:
            return await uow.catalog.all()

    async def add(self, reward: Reward) -> Reward:
        """A new reward; one with its id must not exist."""
        self._check_tier(reward)
        async with self.uow() as uow:
            if not await uow.catalog.add(reward):
                raise RewardExists(reward.reward_id)
            await uow.commit()
        return reward

    async def change(self, reward_id: str, changes: Mapping[str, Any], *, check: Check) -> Reward:
        """The reward with `changes` made, if the result passes `check` and names a tier
        of the programme."""
        async with self.uow() as uow:
            current = await self._get(uow, reward_id)
            merged = replace(current, **changes)
            problems = check(merged)
            if problems:
                raise InvalidChange(problems)
            self._check_tier(merged)
            changed = await uow.catalog.change(reward_id, **changes)
            await uow.commit()
        assert changed is not None  # the row is locked since it was read
        return changed

    async def deactivate(self, reward_id: str) -> Reward:
        """The reward, no longer offered."""
        async with self.uow() as uow:
            changed = await uow.catalog.change(reward_id, active=False)
            if changed is None:
                raise UnknownReward(reward_id)
            await uow.commit()
        return changed

    async def restock(self, reward_id: str, quantity: int) -> Reward:
        """The reward with `quantity` more in its counted stock."""
        async with self.uow() as uow:
            restocked = (await self._get(uow, reward_id)).restocked(quantity)
            changed = await uow.catalog.change(reward_id, stock=restocked.stock)
            await uow.commit()
        assert changed is not None
        return changed

    async def seed(self, path: str | Path | None) -> list[str]:
        """Add the catalog file's rewards that are not in the catalog yet (those that
        are stay as the admin API left them); returns the ids added."""
        rewards = load_catalog(path, set(self.tiers))
        async with self.uow() as uow:
            added = [r.reward_id for r in rewards if await uow.catalog.add(r)]
            await uow.commit()
        return added

    @staticmethod
    async def _get(uow: RewardsUnitOfWork, reward_id: str) -> Reward:
        found = await uow.catalog.get(reward_id, lock=True)
        if found is None:
            raise UnknownReward(reward_id)
        return found

    def _check_tier(self, reward: Reward) -> None:
        if reward.min_tier is not None and reward.min_tier not in self.tiers:
            raise UnknownTier(self.tiers)
