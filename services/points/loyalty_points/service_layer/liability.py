"""The programme's liability as of a moment: what members hold (and its value), what
moved in a period, breakage, and what is about to expire. Read only; worked from the
ledger entries, so any moment can be asked for.

Unredeemed points are deferred revenue in a retailer's books: `outstanding` is the sum
of the members' positive balances, valued at the programme's point value. What some
members owe (a clawback took more than they held) is shown beside it, not netted:
`outstanding.points - owed.points = available + pending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_platform.database import driver_connection
from loyalty_points.adapters.orm import SCHEMA

EXPIRY_HORIZONS = (30, 60, 90)  # days ahead
BREAKAGE_WINDOW = timedelta(days=365)
CENTS = Decimal("0.01")

_HOLDINGS = """
    select coalesce(sum(greatest(b, 0)), 0), coalesce(sum(-least(b, 0)), 0),
           count(*) filter (where b < 0), coalesce(sum(a), 0), coalesce(sum(b), 0),
           count(*) filter (where b > 0)
    from ({members}) as m"""
# Each member's balance and spendable points as of $1, summed from the entries; or,
# when nothing was recorded after $1, as the balances hold them (the same sums).
_SUMMED = f"""select sum(delta) as b, sum(available_delta) as a from {SCHEMA}.ledger_entries
             where occurred_at <= $1 group by member_id"""
_HELD = (
    f"select balance as b, available as a from {SCHEMA}.balances where $1::timestamptz is not null"
)
_LATER = f"select exists (select from {SCHEMA}.ledger_entries where occurred_at > $1)"
_FLOWS = f"""
    select kind, coalesce(sum(delta), 0), coalesce(sum(available_delta), 0)
    from {SCHEMA}.ledger_entries where occurred_at > $1 and occurred_at <= $2 group by kind"""
# What each lot expiring within the horizon held at $1: its remainder now, less what
# entries after $1 put in or took out (a lot's remainder is the sum of its allocations).
_EXPIRING = f"""
    with later as (
        select x->>0 as lot_id, sum((x->>1)::bigint) as moved
        from {SCHEMA}.ledger_entries e cross join lateral jsonb_array_elements(e.lots) x
        where e.occurred_at > $1 group by 1)
    select l.expires_at, l.remaining - coalesce(later.moved, 0)
    from {SCHEMA}.lots l left join later on later.lot_id = l.lot_id
    where l.expires_at > $1 and l.expires_at <= $2 and l.earned_at <= $1"""
_EXPIRING_HELD = f"""
    select expires_at, remaining from {SCHEMA}.lots
    where expires_at > $1 and expires_at <= $2 and earned_at <= $1 and remaining > 0"""


@dataclass(frozen=True)
class Flows:
    """Points moved in a period, each as a positive number (adjusted: net, signed)."""

    earned: int = 0
    vested: int = 0
    redeemed: int = 0
    restored: int = 0
    clawed_back: int = 0
    adjusted: int = 0
    expired: int = 0


@dataclass(frozen=True)
class Liability:
    as_of: datetime
    start: datetime
    end: datetime
    point_value: Decimal
    outstanding: int  # the sum of positive balances
    members_holding: int
    owed: int  # what members with negative balances owe
    members_owing: int
    available: int
    pending: int
    period: Flows
    trailing_earned: int  # over the 12 months up to `as_of`
    trailing_expired: int
    expiring: dict[int, int]  # days ahead -> points

    @property
    def value(self) -> Decimal:
        return (self.outstanding * self.point_value).quantize(CENTS)

    @property
    def breakage(self) -> Decimal | None:
        """Expired over earned in the 12 months up to `as_of`; None when nothing was earned."""
        if self.trailing_earned == 0:
            return None
        return (Decimal(self.trailing_expired) / self.trailing_earned).quantize(Decimal("0.0001"))


async def liability(
    session: AsyncSession, as_of: datetime, start: datetime, end: datetime, point_value: Decimal
) -> Liability:
    # One snapshot for every figure: a redemption committed between two of the
    # statements would otherwise be in one figure and not the next.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    db = await driver_connection(session)
    # The present (the usual question) reads the balances and lots by index; a moment
    # with entries after it is summed from the entries up to it.
    present = not await db.fetchval(_LATER, as_of)
    members, expiring_lots = (_HELD, _EXPIRING_HELD) if present else (_SUMMED, _EXPIRING)
    held, owed, owing, available, balance, holding = await db.fetchrow(
        _HOLDINGS.format(members=members), as_of
    )
    period = await _flows(db, start, end)
    trailing = await _flows(db, as_of - BREAKAGE_WINDOW, as_of)
    horizon = as_of + timedelta(days=max(EXPIRY_HORIZONS))
    lots = await db.fetch(expiring_lots, as_of, horizon)
    expiring = {days: sum(points for at, points in lots if at <= as_of + timedelta(days=days))
                for days in EXPIRY_HORIZONS}  # fmt: skip
    return Liability(as_of, start, end, point_value, held, holding, owed, owing, available,
                     balance - available, period, trailing.earned, trailing.expired,
                     expiring)  # fmt: skip


async def _flows(db: Any, start: datetime, end: datetime) -> Flows:
    sums = {kind: (delta, avail) for kind, delta, avail in await db.fetch(_FLOWS, start, end)}

    def moved(kind: str) -> int:
        return int(sums.get(kind, (0, 0))[0])

    return Flows(
        earned=moved("earned"),
        vested=int(sums.get("vested", (0, 0))[1]),
        redeemed=-moved("redeemed"),
        restored=moved("restored"),
        clawed_back=-moved("clawed_back"),
        adjusted=moved("adjusted"),
        expired=-moved("expired"),
    )
