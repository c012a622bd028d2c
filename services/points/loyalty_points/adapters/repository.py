"""Loading and saving members' ledgers, in bulk, one batch at a time.

This is the consumer's hot path, so it talks to asyncpg directly inside the unit of
work's transaction: array parameters instead of long IN lists, COPY for the
append-only tables, statements asyncpg prepares once and reuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import astuple
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_kernel.intake.commands import PurchaseKey
from loyalty_platform.database import copy_objects, driver_connection, lock_members
from loyalty_platform.purchase_history import PurchaseHistory, by_member
from loyalty_points.adapters.orm import SCHEMA
from loyalty_points.domain.ledger import Adjustment, Debit, Ledger, Purchase, Refund

_LOCK_BALANCES = f"""
    select member_id, balance from {SCHEMA}.balances
    where member_id = any($1::text[]) order by member_id for update"""

_LOCK_BALANCE = f"select balance from {SCHEMA}.balances where member_id = $1 for update"
_DEBIT = f"""
    select debit_id, member_id, points, reference, created_at, balance_after, restored_at
    from {SCHEMA}.debits where debit_id = $1"""
_ADD_DEBIT = f"""
    insert into {SCHEMA}.debits
        (debit_id, member_id, points, reference, created_at, balance_after, restored_at)
    values ($1, $2, $3, $4, $5, $6, $7)"""
_RESTORED = f"update {SCHEMA}.debits set restored_at = $2 where debit_id = $1"
_ADJUSTMENT = f"""
    select adjustment_id, member_id, points, reason, actor, made_at, balance_after
    from {SCHEMA}.adjustments where adjustment_id = $1"""
_ADD_ADJUSTMENT = f"""
    insert into {SCHEMA}.adjustments
        (adjustment_id, member_id, points, reason, actor, made_at, balance_after)
    values ($1, $2, $3, $4, $5, $6, $7)"""

_SAVE_BALANCES = f"""
    insert into {SCHEMA}.balances (member_id, balance)
    select * from unnest($1::text[], $2::bigint[])
    on conflict (member_id) do update set balance = excluded.balance, updated_at = now()"""

_REFUND_COLUMNS = [
    "refund_id",
    "purchase_id",
    "amount",
    "occurred_at",
    "store_id",
    "points_clawed_back",
]
_PURCHASE_COLUMNS = [
    "purchase_id",
    "member_id",
    "amount",
    "occurred_at",
    "store_id",
    "points_earned",
]
_HISTORY = PurchaseHistory(SCHEMA, _PURCHASE_COLUMNS, _REFUND_COLUMNS)
_ENTRY_COLUMNS = [
    "member_id",
    "kind",
    "delta",
    "balance_after",
    "reference",
    "purchase_id",
    "store_id",
    "tier",
    "occurred_at",
]


class LedgerRepository:
    def __init__(self, session: AsyncSession, currency: str) -> None:
        self._session, self._currency = session, currency

    async def for_members(
        self, references: Mapping[str, set[str]], lookback: Mapping[str, datetime]
    ) -> dict[str, Ledger]:
        """Each member's ledger, balance row locked, holding their purchases since their
        `lookback` start and every purchase their events refer to (`references`)."""
        db = await driver_connection(self._session)
        members = sorted(references)
        balances = dict(await lock_members(db, _LOCK_BALANCES, members, "points.balances"))
        referenced = sorted(set().union(*references.values())) if references else []
        purchases = await _HISTORY.load(db, referenced, lookback, Purchase, Refund)
        own = by_member(purchases, lookback, references)
        batch: dict[PurchaseKey, Purchase] = {}  # what the batch records, whoever's
        return {m: Ledger(m, balances.get(m, 0), own[m], self._currency, batch) for m in members}

    async def for_spending(self, member_id: str) -> Ledger:
        """The member's ledger with its balance row locked (no purchases loaded): the
        lock every spend and restore of that member waits on."""
        db = await driver_connection(self._session)
        balance = await db.fetchval(_LOCK_BALANCE, member_id)
        return Ledger(member_id, balance or 0, {}, self._currency)

    async def for_adjusting(self, member_id: str) -> Ledger | None:
        """The member's ledger with its balance row locked; None for a member with no
        account yet. (Creating one here could race the consumer creating it.)"""
        db = await driver_connection(self._session)
        balance = await db.fetchval(_LOCK_BALANCE, member_id)
        return None if balance is None else Ledger(member_id, balance, {}, self._currency)

    async def adjustment(self, adjustment_id: str) -> Adjustment | None:
        db = await driver_connection(self._session)
        row = await db.fetchrow(_ADJUSTMENT, adjustment_id)
        return None if row is None else Adjustment(*row)

    async def add_adjustment(self, a: Adjustment) -> None:
        db = await driver_connection(self._session)
        await db.execute(_ADD_ADJUSTMENT, *astuple(a))

    async def debit(self, debit_id: str, *, lock: bool = False) -> Debit | None:
        db = await driver_connection(self._session)
        row = await db.fetchrow(_DEBIT + (" for update" if lock else ""), debit_id)
        return None if row is None else Debit(*row)

    async def add_debit(self, debit: Debit) -> None:
        db = await driver_connection(self._session)
        await db.execute(_ADD_DEBIT, *astuple(debit))

    async def mark_restored(self, debit: Debit) -> None:
        db = await driver_connection(self._session)
        await db.execute(_RESTORED, debit.debit_id, debit.restored_at)

    async def save(self, ledgers: Iterable[Ledger]) -> None:
        """Append what the ledgers recorded and move the balances: three COPYs, one upsert."""
        ledgers = [lg for lg in ledgers if lg.new_entries or lg.new_purchases or lg.new_refunds]
        db = await driver_connection(self._session)
        await copy_objects(
            db,
            SCHEMA,
            "purchases",
            _PURCHASE_COLUMNS,
            [p for lg in ledgers for p in lg.new_purchases],
        )
        await copy_objects(
            db, SCHEMA, "refunds", _REFUND_COLUMNS, [r for lg in ledgers for r in lg.new_refunds]
        )
        await copy_objects(
            db,
            SCHEMA,
            "ledger_entries",
            _ENTRY_COLUMNS,
            [e for lg in ledgers for e in lg.new_entries],
        )
        moved = sorted((lg.member_id, lg.balance) for lg in ledgers if lg.new_entries)
        if moved:
            await db.execute(_SAVE_BALANCES, [m for m, _ in moved], [b for _, b in moved])
        for lg in ledgers:
            lg.new_entries, lg.new_purchases, lg.new_refunds = [], [], []
