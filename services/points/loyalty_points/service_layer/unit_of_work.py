"""The points service's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_platform.unit_of_work import ConsumingUnitOfWork
from loyalty_points.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_points.adapters.repository import LedgerRepository


class PointsUnitOfWork(ConsumingUnitOfWork):
    outbox_table = OutboxRow
    progress_table = ConsumerProgressRow
    ledgers: LedgerRepository

    def _attach(self, session: AsyncSession) -> None:
        self.ledgers = LedgerRepository(session, self.currency)
