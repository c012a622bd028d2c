"""Read models for the apps: balances and ledger pages. No writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_points.adapters.orm import BalanceRow, LedgerEntryRow, PurchaseRow


@dataclass(frozen=True)
class Balance:
    member_id: str
    balance: int
    updated_at: datetime


async def balance(session: AsyncSession, member_id: str) -> Balance | None:
    row = await session.get(BalanceRow, member_id)
    return Balance(row.member_id, row.balance, row.updated_at) if row else None


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
