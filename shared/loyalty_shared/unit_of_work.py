"""The unit of work of a service that consumes and publishes: its state, its outbox
and its consumer positions commit in one transaction."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_shared.db import UnitOfWork
from loyalty_shared.outbox import Outbox, OutboxColumns
from loyalty_shared.progress import ConsumerProgress, ConsumerProgressColumns


class ConsumingUnitOfWork(UnitOfWork):
    outbox_table: ClassVar[type[OutboxColumns]]
    progress_table: ClassVar[type[ConsumerProgressColumns]]
    outbox: Outbox
    progress: ConsumerProgress

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, currency: str, consumer_group: str
    ) -> None:
        super().__init__(sessions)
        self.currency, self._group = currency, consumer_group

    def _open(self, session: AsyncSession) -> None:
        self.outbox = Outbox(session, self.outbox_table)
        self.progress = ConsumerProgress(session, self.progress_table, self._group)
        self._attach(session)

    def _attach(self, session: AsyncSession) -> None:
        """Subclasses attach their repositories to the session here."""

    async def commit(self) -> None:
        await self.outbox.flush()
        await super().commit()
