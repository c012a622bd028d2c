"""The points service's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_points.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_points.adapters.repository import LedgerRepository
from loyalty_shared.db import UnitOfWork
from loyalty_shared.outbox import Outbox
from loyalty_shared.progress import ConsumerProgress


class PointsUnitOfWork(UnitOfWork):
    ledgers: LedgerRepository
    outbox: Outbox
    progress: ConsumerProgress

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, currency: str, consumer_group: str
    ) -> None:
        super().__init__(sessions)
        self._currency, self._group = currency, consumer_group

    def _open(self, session: AsyncSession) -> None:
        self.ledgers = LedgerRepository(session, self._currency)
        self.outbox = Outbox(session, OutboxRow)
        self.progress = ConsumerProgress(session, ConsumerProgressRow, self._group)

    async def commit(self) -> None:
        await self.outbox.flush()
        await super().commit()
