"""The rewards service's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_platform.outbox import Outbox
from loyalty_platform.unit_of_work import UnitOfWork
from loyalty_rewards.adapters.idempotency import IdempotencyRepository
from loyalty_rewards.adapters.orm import OutboxRow
from loyalty_rewards.adapters.repository import CatalogRepository, RedemptionRepository


class RewardsUnitOfWork(UnitOfWork):
    catalog: CatalogRepository
    redemptions: RedemptionRepository
    keys: IdempotencyRepository
    outbox: Outbox

    def _open(self, session: AsyncSession) -> None:
        self.catalog = CatalogRepository(session)
        self.redemptions = RedemptionRepository(session)
        self.keys = IdempotencyRepository(session)
        self.outbox = Outbox(session, OutboxRow)

    async def commit(self) -> None:
        await self.outbox.flush()
        await super().commit()
