"""Read models for the apps: balances, lots and ledger pages, now or as of a moment.
No writes here.

As of a moment T, a member's figures are worked from the ledger entries whose moment
is at or before T, as they are known now: the balance is the sum of their deltas, the
spendable part the sum of their `available_delta`, and each lot holds what their
allocations put into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_platform.database import driver_connection
from loyalty_points.adapters.orm import SCHEMA, BalanceRow, LedgerEntryRow, LotRow, PurchaseRow
from loyalty_points.domain.lots import LotSource, LotStatus, status_of, vesting_schedule


@dataclass(frozen=True)
class Expiry:
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class Vesting:
    points: int
    vests_at: datetime
    spendable_after: int  # what is spendable once they vest, less what expired by then


@dataclass(frozen=True)
class Balance:
    member_id: str
    balance: int  # available + pending
    available: int
    pending: int
    next_expiry: Expiry | None
    vesting: list[Vesting]  # the pending points, by when they vest
    as_of: datetime | None  # None: now, as the ledger stands
    updated_at: datetime | None


@dataclass(frozen=True)
class LotView:
    lot_id: str
    source: str
    reference: str
    store_id: str | None
    earned_at: datetime
    vests_at: datetime
    expires_at: datetime | None
    points: int
    remaining: int
    status: str


_AS_OF_LOTS = f"""
    select x->>0, sum((x->>1)::bigint), bool_or(e.kind = 'expired')
    from {SCHEMA}.ledger_entries e cross join lateral jsonb_array_elements(e.lots) x
    where e.member_id = $1 and e.occurred_at <= $2
    group by 1"""
# The lots that had vested, and those the clock had expired, by then.
_AS_OF_MOMENTS = f"""
    select reference, kind from {SCHEMA}.ledger_entries
    where member_id = $1 and occurred_at <= $2 and kind in ('vested', 'expired')"""


async def has_account(session: AsyncSession, member_id: str) -> bool:
    return await session.get(BalanceRow, member_id) is not None


async def balance(
    session: AsyncSession, member_id: str, as_of: datetime | None = None
) -> Balance | None:
    """None for a member with no points account. Before the member's first entry, as
    of a moment, the account held nothing: zeros."""
    row = await session.get(BalanceRow, member_id)
    if row is None:
        return None
    if as_of is None:
        live = await lots(session, member_id, live=True)
        return Balance(member_id, row.balance, row.available, row.balance - row.available,
                       next_expiry(live, None), vesting(live, row.available), None, row.updated_at)  # fmt: skip
    sums = select(func.coalesce(func.sum(LedgerEntryRow.delta), 0),
                  func.coalesce(func.sum(LedgerEntryRow.available_delta), 0)).where(
        LedgerEntryRow.member_id == member_id, LedgerEntryRow.occurred_at <= as_of)  # fmt: skip
    total, available = (await session.execute(sums)).one()
    then = await lots(session, member_id, as_of)
    return Balance(member_id, total, available, total - available, next_expiry(then, as_of),
                   vesting(then, available, as_of), as_of, None)  # fmt: skip


def vesting(held: list[LotView], available: int, after: datetime | None = None) -> list[Vesting]:
    """The pending points by the moment they vest, soonest first, each with what will be
    spendable then if nothing is spent meanwhile (`vesting_schedule`, the rule the
    ledger refuses a spend by). Expiries at or before `after` have been counted."""

    def expiry(lot: LotView) -> datetime | None:
        counted = after is not None and lot.expires_at is not None and lot.expires_at <= after
        return None if counted else lot.expires_at

    live = ((lot.vests_at if lot.status == LotStatus.PENDING else None, expiry(lot), lot.remaining)
            for lot in held
            if lot.remaining > 0 and lot.status in (LotStatus.PENDING, LotStatus.VESTED))  # fmt: skip
    return [Vesting(points, at, then) for at, points, then in vesting_schedule(live, available)]


def next_expiry(held: list[LotView], after: datetime | None) -> Expiry | None:
    """The soonest moment spendable or pending points expire, and how many then."""
    dated = [lot for lot in held if lot.remaining > 0 and lot.expires_at is not None
             and lot.status in (LotStatus.PENDING, LotStatus.VESTED)
             and (after is None or lot.expires_at > after)]  # fmt: skip
    if not dated:
        return None
    soonest = min(lot.expires_at for lot in dated if lot.expires_at is not None)
    return Expiry(sum(lot.remaining for lot in dated if lot.expires_at == soonest), soonest)


async def lots(
    session: AsyncSession, member_id: str, as_of: datetime | None = None, *, live: bool = False
) -> list[LotView]:
    """The member's lots, newest first: as they stand (`live`: only those holding or
    owing points), or as of a moment (the lots earned by then, holding what the entries
    up to then left in them, vested and expired as the entries up to then say)."""
    query = select(LotRow).where(LotRow.member_id == member_id)
    if as_of is not None:
        query = query.where(LotRow.earned_at <= as_of)
    elif live:
        query = query.where(LotRow.remaining != 0)
    rows = list(await session.scalars(query.order_by(LotRow.earned_at.desc(), LotRow.lot_id)))
    if as_of is None:
        return [_view(r, r.remaining, status_of(LotSource(r.source), r.expired, r.remaining,
                                                r.vested)) for r in rows]  # fmt: skip
    db = await driver_connection(session)
    then = {lot_id: (held, lapsed) for lot_id, held, lapsed in
            await db.fetch(_AS_OF_LOTS, member_id, as_of)}  # fmt: skip
    moments = {(ref, kind) for ref, kind in await db.fetch(_AS_OF_MOMENTS, member_id, as_of)}
    out = []
    for r in rows:
        held, lapsed = then.get(r.lot_id, (0, False))
        expired = (r.lot_id, "expired") in moments or (lapsed and held == 0)
        vested = (r.lot_id, "vested") in moments or r.vests_at <= r.earned_at
        out.append(_view(r, held, status_of(LotSource(r.source), expired, held, vested)))
    return out


def _view(r: LotRow, remaining: int, status: str) -> LotView:
    return LotView(r.lot_id, r.source, r.reference, r.store_id, r.earned_at, r.vests_at,
                   r.expires_at, r.points, remaining, status)  # fmt: skip


@dataclass(frozen=True)
class RecordedPurchase:
    member_id: str
    store_id: str


async def purchases_numbered(session: AsyncSession, purchase_id: str) -> list[RecordedPurchase]:
    """The recorded purchases with this receipt number, at whatever store."""
    query = select(PurchaseRow.member_id, PurchaseRow.store_id).where(
        PurchaseRow.purchase_id == purchase_id
    )
    return [RecordedPurchase(*row) for row in (await session.execute(query)).all()]


async def ledger_page(
    session: AsyncSession, member_id: str, *, before_id: int | None, limit: int
) -> list[LedgerEntryRow]:
    """Newest first; `before_id` continues from the previous page's last entry."""
    query = select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id)
    if before_id is not None:
        query = query.where(LedgerEntryRow.id < before_id)
    rows = await session.execute(query.order_by(LedgerEntryRow.id.desc()).limit(limit))
    return list(rows.scalars())
