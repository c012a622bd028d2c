"""The tier service's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_platform.unit_of_work import ConsumingUnitOfWork
from loyalty_tiers.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_tiers.adapters.repository import StandingRepository


class TiersUnitOfWork(ConsumingUnitOfWork):
    outbox_table = OutboxRow
    progress_table = ConsumerProgressRow
    standings: StandingRepository

    def _attach(self, session: AsyncSession) -> None:
        self.standings = StandingRepository(session, self.currency)
