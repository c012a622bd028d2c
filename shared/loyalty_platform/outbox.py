"""The transactional outbox: events are written with the state change that caused
them and published afterwards by the relay (`loyalty_platform.relay`), so none is lost
to a crash between the two.

Besides `outbox`, each service keeps the relay's own tables beside it, named after it:
`outbox_positions`, `outbox_lease` and `outbox_parked`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    String,
    func,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_platform.database import driver_connection


class OutboxColumns:
    """Columns of a service's `outbox` table."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxPositionColumns:
    """Columns of `outbox_positions`: where each partition's log ended after the relay's
    last acknowledged send there, in which broker log. A relay taking over reads the log
    from here to find what was sent but not yet deleted."""

    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    log_id: Mapped[str | None] = mapped_column(String(255))


class OutboxLeaseColumns:
    """Columns of `outbox_lease`: who last held the relay and whether they let go of it
    cleanly (a holder that did not may have sent rows it never deleted)."""

    relay: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    released: Mapped[bool] = mapped_column(Boolean)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxParkedColumns:
    """Columns of `outbox_parked`: rows the broker cannot take, set aside (with why) so
    the rest keep flowing; an operator decides what becomes of them."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(1000))
    parked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Outbox:
    """Inside a unit of work: stage events, written when the unit of work flushes them."""

    def __init__(self, session: AsyncSession, table: type[OutboxColumns]) -> None:
        self._session, self._table = session, table
        self._staged: list[tuple[str, bytes | None, bytes]] = []

    def add(self, topic: str, key: str | None, event: CloudEvent) -> None:
        self.add_encoded(topic, key, event.to_bytes())

    def add_encoded(self, topic: str, key: str | None, value: bytes) -> None:
        """An event already written as its bytes (a hot path that writes them itself)."""
        self._staged.append((topic, key.encode() if key else None, value))

    async def flush(self) -> None:
        if self._staged:
            table = self._table.__table__  # type: ignore[attr-defined]
            db = await driver_connection(self._session)
            await db.copy_records_to_table(
                table.name,
                schema_name=table.schema,
                columns=["topic", "key", "value"],
                records=self._staged,
            )
            self._staged = []
