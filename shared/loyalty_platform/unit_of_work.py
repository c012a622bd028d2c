"""The unit of work: one transaction around one handled request or batch, committed in
one place. A service that consumes and publishes commits its state, its outbox and its
consumer positions together."""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_platform.outbox import Outbox, OutboxColumns
from loyalty_platform.progress import ConsumerProgress, ConsumerProgressColumns


class UnitOfWork:
    """One transaction around one handled request or batch; `commit()` is the only commit.

    Leaving the block without committing rolls everything back.
    """

    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> Self:
        self.session = self._sessions()
        self._open(self.session)
        return self

    def _open(self, session: AsyncSession) -> None:
        """Subclasses attach their repositories to the session here."""

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.session.rollback()  # after a commit there is nothing left: a no-op
        finally:
            await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()


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
