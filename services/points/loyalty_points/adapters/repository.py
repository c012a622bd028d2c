"""Loading and saving members' ledgers, in bulk, one batch at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from loyalty_points.adapters.orm import BalanceRow, Base, LedgerEntryRow, PurchaseRow, RefundRow
from loyalty_points.domain.ledger import Ledger, LedgerEntry, Purchase, Refund


class LedgerRepository:
    def __init__(self, session: AsyncSession, currency: str) -> None:
        self._session, self._currency = session, currency

    async def for_members(
        self, references: Mapping[str, set[str]], since: datetime | None
    ) -> dict[str, Ledger]:
        """Each member's ledger, balance row locked, holding their purchases since `since`
        and every purchase their events refer to by id (`references`)."""
        members = sorted(references)
        balances = await self._locked_balances(members)
        purchases = await self._purchases(members, references, since)
        by_member: dict[str, dict[str, Purchase]] = defaultdict(dict)
        for p in purchases.values():
            if p.member_id in references and (since is None or p.occurred_at > since):
                by_member[p.member_id][p.purchase_id] = p
        for member, ids in references.items():
            by_member[member].update({i: purchases[i] for i in ids if i in purchases})
        return {m: Ledger(m, balances.get(m, 0), by_member[m], self._currency) for m in members}

    async def _locked_balances(self, members: list[str]) -> dict[str, int]:
        rows = await self._session.execute(
            select(BalanceRow.member_id, BalanceRow.balance)
            .where(BalanceRow.member_id.in_(members))
            .order_by(BalanceRow.member_id)
            .with_for_update()
        )
        return dict(rows.all())

    async def _purchases(
        self, members: list[str], references: Mapping[str, set[str]], since: datetime | None
    ) -> dict[str, Purchase]:
        referenced = set().union(*references.values()) if references else set()
        recent: list[ColumnElement[bool]] = [PurchaseRow.member_id.in_(members)]
        if since is not None:
            recent.append(PurchaseRow.occurred_at > since)
        rows = await self._session.execute(
            select(PurchaseRow).where(or_(PurchaseRow.purchase_id.in_(referenced), and_(*recent)))
        )
        purchases = {
            r.purchase_id: Purchase(
                r.purchase_id, r.member_id, r.amount, r.occurred_at, r.points_earned
            )
            for r in rows.scalars()
        }
        if purchases:
            refunds = await self._session.execute(
                select(RefundRow)
                .where(RefundRow.purchase_id.in_(list(purchases)))
                .order_by(RefundRow.occurred_at, RefundRow.refund_id)
            )
            for r in refunds.scalars():
                purchases[r.purchase_id].refunds.append(
                    Refund(
                        r.refund_id, r.purchase_id, r.amount, r.occurred_at, r.points_clawed_back
                    )
                )
        return purchases

    async def save(self, ledgers: Iterable[Ledger]) -> None:
        """Append what the ledgers recorded and move the balances, as a few bulk statements."""
        ledgers = [lg for lg in ledgers if lg.new_entries or lg.new_purchases or lg.new_refunds]
        await self._insert(
            PurchaseRow, [_purchase_row(p) for lg in ledgers for p in lg.new_purchases]
        )
        await self._insert(RefundRow, [_refund_row(r) for lg in ledgers for r in lg.new_refunds])
        await self._insert(
            LedgerEntryRow, [_entry_row(e) for lg in ledgers for e in lg.new_entries]
        )
        moved = {lg.member_id: lg.balance for lg in ledgers if lg.new_entries}
        if moved:
            await self._save_balances(moved)
        for lg in ledgers:
            lg.new_entries, lg.new_purchases, lg.new_refunds = [], [], []

    async def _insert(self, table: type[Base], rows: list[dict[str, object]]) -> None:
        if rows:
            await self._session.execute(insert(table), rows)

    async def _save_balances(self, balances: dict[str, int]) -> None:
        stmt = insert(BalanceRow).values(
            [{"member_id": m, "balance": b} for m, b in sorted(balances.items())]
        )
        await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=[BalanceRow.member_id],
                set_={"balance": stmt.excluded.balance, "updated_at": func.now()},
            )
        )


def _purchase_row(p: Purchase) -> dict[str, object]:
    return {"purchase_id": p.purchase_id, "member_id": p.member_id, "amount": p.amount,
            "occurred_at": p.occurred_at, "points_earned": p.points_earned}  # fmt: skip


def _refund_row(r: Refund) -> dict[str, object]:
    return {"refund_id": r.refund_id, "purchase_id": r.purchase_id, "amount": r.amount,
            "occurred_at": r.occurred_at, "points_clawed_back": r.points_clawed_back}  # fmt: skip


def _entry_row(e: LedgerEntry) -> dict[str, object]:
    return {"member_id": e.member_id, "kind": e.kind.value, "delta": e.delta,
            "balance_after": e.balance_after, "reference": e.reference,
            "purchase_id": e.purchase_id, "tier": e.tier, "occurred_at": e.occurred_at}  # fmt: skip
