"""The points service's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_kernel.programme import PointsLifecycle
from loyalty_platform.unit_of_work import ConsumingUnitOfWork
from loyalty_points.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_points.adapters.repository import LedgerRepository


class PointsUnitOfWork(ConsumingUnitOfWork):
    outbox_table = OutboxRow
    progress_table = ConsumerProgressRow
    ledgers: LedgerRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        currency: str,
        consumer_group: str,
        lifecycle: PointsLifecycle,
        asks_first_purchase: bool = False,
    ) -> None:
        super().__init__(sessions, currency=currency, consumer_group=consumer_group)
        self.lifecycle = lifecycle
        self.asks_first_purchase = asks_first_purchase

    def _attach(self, session: AsyncSession) -> None:
        self.ledgers = LedgerRepository(
            session, self.currency, self.lifecycle, self.asks_first_purchase
        )
