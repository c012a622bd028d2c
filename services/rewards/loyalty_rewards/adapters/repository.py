"""The catalog and the redemptions, inside a unit of work's session."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_rewards.adapters.orm import RedemptionRow, RewardRow
from loyalty_rewards.domain.catalog import Reward, RewardKind
from loyalty_rewards.domain.redemption import (
    LIVE,
    UNFINISHED,
    Redemption,
    Status,
    next_attempt,
)

_REWARD_FIELDS = list(Reward.__dataclass_fields__)


def _reward(row: RewardRow) -> Reward:
    values = {name: getattr(row, name) for name in _REWARD_FIELDS}
    values["kind"] = RewardKind(values["kind"])
    return Reward(**values)


def _redemption(row: RedemptionRow) -> Redemption:
    return Redemption(
        row.redemption_id,
        row.member_id,
        row.reward_id,
        row.points,
        Status(row.status),
        row.created_at,
        row.coupon_code,
        row.failure,
    )


class CatalogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def all(self) -> list[Reward]:
        rows = await self._session.scalars(select(RewardRow).order_by(RewardRow.points_cost))
        return [_reward(r) for r in rows]

    async def get(self, reward_id: str, *, lock: bool = False) -> Reward | None:
        """With `lock`, the reward's row stays locked until the transaction ends."""
        row = await self._session.get(RewardRow, reward_id, with_for_update=lock)
        return None if row is None else _reward(row)

    async def add(self, reward: Reward) -> bool:
        """Add a reward; False if its id exists (that one is kept as it is)."""
        values = asdict(reward) | {"kind": reward.kind.value}
        statement = insert(RewardRow).values(values).on_conflict_do_nothing()
        result: Any = await self._session.execute(statement)
        return bool(result.rowcount)

    async def change(self, reward_id: str, **changes: Any) -> Reward | None:
        """The reward as changed; None if there is no such reward."""
        result = await self._session.execute(
            update(RewardRow)
            .where(RewardRow.reward_id == reward_id)
            .values(**changes)
            .returning(RewardRow)
        )
        row = result.scalar_one_or_none()
        return None if row is None else _reward(row)

    async def take_one(self, reward_id: str) -> bool:
        """Take one from the stock, atomically; True also when stock is not counted."""
        result: Any = await self._session.execute(
            update(RewardRow)
            .where(RewardRow.reward_id == reward_id)
            .where((RewardRow.stock.is_(None)) | (RewardRow.stock > 0))
            .values(stock=RewardRow.stock - 1)
        )
        return bool(result.rowcount)

    async def give_back_one(self, reward_id: str) -> None:
        await self._session.execute(
            update(RewardRow)
            .where(RewardRow.reward_id == reward_id, RewardRow.stock.is_not(None))
            .values(stock=RewardRow.stock + 1)
        )


class RedemptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_member(self, member_id: str) -> None:
        """Until the transaction ends, other claims for this member wait."""
        await self._session.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:lock, 0))"),
            {"lock": f"rewards.redemptions:{member_id}"},
        )

    async def add(self, redemption: Redemption) -> None:
        values = asdict(redemption) | {"status": redemption.status.value}
        await self._session.execute(insert(RedemptionRow).values(values))

    async def get(self, redemption_id: str, *, lock: bool = False) -> Redemption | None:
        query = select(RedemptionRow).where(RedemptionRow.redemption_id == redemption_id)
        row = await self._session.scalar(query.with_for_update() if lock else query)
        return None if row is None else _redemption(row)

    async def settle(self, redemption: Redemption) -> None:
        await self._session.execute(
            update(RedemptionRow)
            .where(RedemptionRow.redemption_id == redemption.redemption_id)
            .values(status=redemption.status.value, failure=redemption.failure)
        )

    async def live_times(
        self, member_id: str, reward_ids: list[str], since: datetime
    ) -> list[tuple[str, datetime]]:
        """When the member made each live redemption of these rewards since `since`."""
        rows = await self._session.execute(
            select(RedemptionRow.reward_id, RedemptionRow.created_at).where(
                RedemptionRow.member_id == member_id,
                RedemptionRow.reward_id.in_(reward_ids),
                RedemptionRow.status.in_([s.value for s in LIVE]),
                RedemptionRow.created_at >= since,
            )
        )
        return [(reward_id, at) for reward_id, at in rows.all()]

    async def of_member(self, member_id: str, limit: int) -> list[Redemption]:
        rows = await self._session.scalars(
            select(RedemptionRow)
            .where(RedemptionRow.member_id == member_id)
            .order_by(RedemptionRow.created_at.desc())
            .limit(limit)
        )
        return [_redemption(r) for r in rows]

    async def due(self, now: datetime, grace: timedelta, limit: int) -> list[str]:
        """Unfinished redemptions to try again now, those waiting longest first: never
        tried again and older than `grace`, or whose next attempt has come."""
        t = RedemptionRow
        first_try = t.next_attempt_at.is_(None) & (t.created_at < now - grace)
        rows = await self._session.scalars(
            select(t.redemption_id)
            .where(t.status.in_([s.value for s in UNFINISHED]))
            .where(first_try | (t.next_attempt_at <= now))
            .order_by(func.coalesce(t.next_attempt_at, t.created_at))
            .limit(limit)
        )
        return list(rows)

    async def put_off(self, redemption_id: str, error: str, now: datetime) -> datetime:
        """Count an unanswered attempt and set when to try again; returns that moment."""
        t = RedemptionRow
        attempts = await self._session.scalar(
            update(t)
            .where(t.redemption_id == redemption_id)
            .values(attempts=t.attempts + 1, last_error=error[:500])
            .returning(t.attempts)
        )
        again = next_attempt(int(attempts or 1), now)
        await self._session.execute(
            update(t).where(t.redemption_id == redemption_id).values(next_attempt_at=again)
        )
        return again

    async def unfinished(self) -> tuple[int, datetime | None]:
        """How many redemptions wait on the points service, and since when the oldest."""
        t = RedemptionRow
        count, oldest = (
            await self._session.execute(
                select(func.count(), func.min(t.created_at)).where(
                    t.status.in_([s.value for s in UNFINISHED])
                )
            )
        ).one()
        return int(count), oldest
