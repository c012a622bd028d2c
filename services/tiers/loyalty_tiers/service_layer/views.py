"""Read models: a member's tier outlook, the tier table, movement over a period."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_kernel.programme import TierPolicy
from loyalty_tiers.adapters.orm import SCHEMA, MemberRow
from loyalty_tiers.adapters.repository import StandingRepository
from loyalty_tiers.domain.outlook import TierOutlook, outlook

WallClock = Callable[[], datetime] | None  # None: event time only, the partition's watermark


async def member_outlook(
    session: AsyncSession, member_id: str, policy: TierPolicy, wall_clock: WallClock, currency: str
) -> TierOutlook | None:
    """The member's tier as of now: the wall clock live, the partition's watermark when
    the service runs on event time alone."""
    repository = StandingRepository(session, currency)
    loaded = await repository.load({member_id: None}, policy.reach, {}, lock=False)
    standing = loaded.standings.get(member_id)
    if standing is None:
        return None
    if wall_clock is not None:
        now = wall_clock()
    else:
        now = await repository.watermark(loaded.partitions[member_id]) or standing.clock
    return outlook(standing, policy, now)


async def tier_counts(session: AsyncSession) -> Counter[str]:
    rows = await session.execute(select(MemberRow.tier, func.count()).group_by(MemberRow.tier))
    return Counter(dict(rows.all()))


@dataclass(frozen=True)
class Movement:
    from_tier: str
    to_tier: str
    direction: str
    changes: int


@dataclass(frozen=True)
class TierReport:
    start: datetime
    end: datetime
    at_start: Counter[str]
    at_end: Counter[str]
    retained: Counter[str]  # in the tier at the start and still in it at the end
    movements: list[Movement]

    def retention(self, tier: str) -> Decimal | None:
        held = self.at_start[tier]
        return (
            None if held == 0 else (Decimal(self.retained[tier]) / held).quantize(Decimal("0.0001"))
        )


# Each known member's tier at $1 and at $2: their last change by then, else the lowest.
_TIERS_AT = text(f"""
    with known as (
        select member_id, first_seen_at from {SCHEMA}.members where first_seen_at <= :end
    ), placed as (
        select k.member_id,
            case when k.first_seen_at <= :start then coalesce((
                select c.to_tier from {SCHEMA}.tier_changes c
                where c.member_id = k.member_id and c.effective_at <= :start
                order by c.sequence desc limit 1), :lowest) end as at_start,
            coalesce((
                select c.to_tier from {SCHEMA}.tier_changes c
                where c.member_id = k.member_id and c.effective_at <= :end
                order by c.sequence desc limit 1), :lowest) as at_end
        from known k
    )
    select at_start, at_end, count(*) from placed group by at_start, at_end""")

_MOVEMENTS = text(f"""
    select from_tier, to_tier, direction, count(*) from {SCHEMA}.tier_changes
    where effective_at > :start and effective_at <= :end
    group by from_tier, to_tier, direction order by direction desc, from_tier, to_tier""")


async def tier_report(
    session: AsyncSession, start: datetime, end: datetime, policy: TierPolicy
) -> TierReport:
    """Where members stood at `start` and at `end`, and the moves between (start, end]."""
    params = {"start": start, "end": end, "lowest": policy.lowest.name}
    at_start: Counter[str] = Counter()
    at_end: Counter[str] = Counter()
    retained: Counter[str] = Counter()
    for first, last, count in await session.execute(_TIERS_AT, params):
        at_end[last] += count
        if first is not None:
            at_start[first] += count
            if first == last:
                retained[first] += count
    movements = [Movement(*row) for row in await session.execute(_MOVEMENTS, params)]
    return TierReport(start, end, at_start, at_end, retained, movements)
