"""The API keys, kept in PostgreSQL (schema `access`): issued, looked up, revoked.

Every service reads the same keys. A verified key is remembered for
`ACCESS_KEY_CACHE_SECONDS`, so most requests cost no query; that is also how long a
revocation takes to reach every replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    String,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from loyalty_platform.access.credentials import (
    KeyHolder,
    Kind,
    PresentedKey,
    check_rights,
    digests_match,
    key_text,
    new_key,
)
from loyalty_platform.database import metadata_for

SCHEMA = "access"


class Base(DeclarativeBase):
    metadata = metadata_for(SCHEMA)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("kind in ('till', 'ops', 'service')", name="known_kind"),
        CheckConstraint("(kind = 'till') = (store_id is not null)", name="till_has_store"),
    )

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[str | None] = mapped_column(String(128))
    till_id: Mapped[str | None] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    label: Mapped[str] = mapped_column(String(200))
    development: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class KeyRecord:
    holder: KeyHolder
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    text: str  # shown once: only its digest is kept
    holder: KeyHolder


def _holder(row: ApiKeyRow) -> KeyHolder:
    return KeyHolder(
        key_id=row.key_id,
        kind=Kind(row.kind),
        store_id=row.store_id,
        till_id=row.till_id,
        scopes=frozenset(row.scopes),
        label=row.label,
        development=row.development,
    )


class KeyStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._verified: dict[tuple[str, str], tuple[float, KeyHolder]] = {}

    async def holder(self, key: PresentedKey) -> KeyHolder | None:
        """Who holds this key, or None when it is unknown, wrong or revoked."""
        digest = key.digest()
        remembered = self._verified.get((key.key_id, digest))
        if remembered is not None and self._clock() < remembered[0]:
            return remembered[1]
        async with self._sessions() as session:
            row = await session.get(ApiKeyRow, key.key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not digests_match(row.secret_sha256, digest):
            return None
        found = _holder(row)
        if self._cache_seconds > 0:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[(key.key_id, digest)] = (self._clock() + self._cache_seconds, found)
        return found

    async def issue(
        self,
        kind: Kind,
        *,
        store_id: str | None = None,
        till_id: str | None = None,
        scopes: frozenset[str] = frozenset(),
        label: str = "",
        development: bool = False,
    ) -> IssuedKey:
        check_rights(kind, store_id, scopes)
        key: PresentedKey = new_key(kind)
        row = ApiKeyRow(
            key_id=key.key_id,
            secret_sha256=key.digest(),
            kind=kind.value,
            store_id=store_id,
            till_id=till_id,
            scopes=sorted(scopes),
            label=label,
            development=development,
        )
        async with self._sessions() as session, session.begin():
            session.add(row)
        return IssuedKey(key_text(key), _holder(row))

    async def revoke(self, key_id: str) -> bool:
        """True when the key existed and was not revoked before."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=func.now())
                .returning(ApiKeyRow.key_id)
            )
            revoked = done.first() is not None
        self._verified = {k: v for k, v in self._verified.items() if k[0] != key_id}
        return revoked

    async def records(self) -> list[KeyRecord]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))).all()
        return [KeyRecord(_holder(r), r.created_at, r.revoked_at) for r in rows]

    async def development_keys(self) -> list[str]:
        """Keys made for development that still work."""
        async with self._sessions() as session:
            found = await session.scalars(
                select(ApiKeyRow.key_id).where(
                    ApiKeyRow.development.is_(True), ApiKeyRow.revoked_at.is_(None)
                )
            )
            return list(found)
