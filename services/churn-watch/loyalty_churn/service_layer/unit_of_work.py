"""The churn watch's unit of work: the one place its transactions commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_churn.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_churn.adapters.repository import WatchRepository
from loyalty_churn.domain.risk import RiskModel
from loyalty_platform.unit_of_work import ConsumingUnitOfWork


class ChurnUnitOfWork(ConsumingUnitOfWork):
    outbox_table = OutboxRow
    progress_table = ConsumerProgressRow
    watch: WatchRepository

    def _attach(self, session: AsyncSession) -> None:
        self.watch = WatchRepository(session)

    async def current_model(self) -> RiskModel | None:
        latest = await self.watch.latest_model()
        return latest[1] if latest else None
