"""Spending points on redemptions and putting them back: the points side of the
rewards service's redemption protocol. The balance stays owned here.

Each call is one unit of work holding the member's balance row locked, so concurrent
spends of one member queue, and none can take the balance below zero. A debit id
makes a spend idempotent (`requests`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.topics import TopicNames
from loyalty_points.domain.entries import Debit
from loyalty_points.domain.ledger import Ledger
from loyalty_points.service_layer.events import entry_event
from loyalty_points.service_layer.requests import ReusedId, one_use_of, same_request
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork


@dataclass(frozen=True)
class SpendPoints:
    debit_id: str
    member_id: str
    points: int
    reference: str


class DebitConflict(ReusedId):
    """The debit id was used before, for other facts."""


class UnknownDebit(Exception):
    pass


@dataclass
class Spending:
    uow: Callable[[], PointsUnitOfWork]
    topics: TopicNames

    async def spend(self, cmd: SpendPoints, now: datetime) -> tuple[Debit, bool]:
        """The debit, and whether this call made it (False: asked before)."""
        what = f"debit {cmd.debit_id}"
        with one_use_of(DebitConflict, what):
            async with self.uow() as uow:
                ledger = await uow.ledgers.for_spending(cmd.member_id)
                known = await uow.ledgers.debit(cmd.debit_id)
                if known is not None:
                    facts = (known.member_id, known.points, known.reference)
                    asked = (cmd.member_id, cmd.points, cmd.reference)
                    return same_request(known, facts, asked, DebitConflict, what), False
                debit = ledger.debit(cmd.debit_id, cmd.points, cmd.reference, now)
                await self._record(uow, ledger)
                await uow.ledgers.add_debit(debit)
                await uow.commit()
                return debit, True

    async def restore(self, debit_id: str, now: datetime) -> Debit:
        """Put a debit's points back, once; asked again, the same answer."""
        async with self.uow() as uow:
            debit = await uow.ledgers.debit(debit_id, lock=True)
            if debit is None:
                raise UnknownDebit(f"no debit {debit_id}")
            if debit.restored_at is not None:
                return debit
            ledger = await uow.ledgers.for_spending(debit.member_id, debit)
            restored = ledger.restore(debit, now)
            await self._record(uow, ledger)
            await uow.ledgers.mark_restored(restored)
            await uow.commit()
            return restored

    async def _record(self, uow: PointsUnitOfWork, ledger: Ledger) -> None:
        """The ledger's new entry, its balance, and its event in the outbox."""
        for entry in ledger.new_entries:
            uow.outbox.add(self.topics.points_events, entry.member_id, entry_event(entry))
        await uow.ledgers.save([ledger])
