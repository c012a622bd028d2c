"""The database: engines, sessions, schemas, and the bulk paths to asyncpg."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def metadata_for(schema: str) -> MetaData:
    """Each service keeps its tables in a schema of its own."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    # Custom plans: a generic plan made while a table was still empty guesses ten
    # elements for every `= any($1)` array and keeps scanning the whole table once it
    # has grown (measured: 300 ms a batch instead of 2). JIT only slows such statements.
    settings = {"plan_cache_mode": "force_custom_plan", "jit": "off"}
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"server_settings": settings},
    )


async def database_reachable(engine: AsyncEngine) -> bool:
    """For readiness: a round trip to the database works."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
    except Exception:  # any failure means not ready; the reason is in the logs
        log.exception("database check failed")
        return False
    return True


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, for bulk statements SQLAlchemy would
    compile row by row (COPY, array parameters), inside the session's transaction."""
    connection = await session.connection()
    raw: Any = (await connection.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():
        # SQLAlchemy begins lazily, at its first statement: make that happen now.
        await connection.execute(text("select 1"))
    return raw


async def copy_rows(
    db: Any, schema: str, table: str, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    """Append rows with COPY on an asyncpg connection (from `driver_connection`)."""
    if records:
        await db.copy_records_to_table(table, schema_name=schema, columns=columns, records=records)


async def copy_objects(
    db: Any, schema: str, table: str, columns: list[str], objects: Iterable[object]
) -> None:
    """Append one row per object with COPY, each column read from the object's attribute
    of the same name."""
    values = attrgetter(*columns)
    records = [values(o) for o in objects]
    if len(columns) == 1:
        records = [(r,) for r in records]
    await copy_rows(db, schema, table, columns, records)


_LOCK_NAMES = """
    select pg_advisory_xact_lock(hashtextextended($1 || ':' || name, 0))
    from unnest($2::text[]) as name"""


async def lock_members(db: Any, query: str, members: Iterable[str], namespace: str) -> list[Any]:
    """The members' rows, fetched by `query` (`$1` the member ids, `for update`), and for
    members with no row yet a lock on their id until the transaction ends; then their
    rows again. Row locks alone cannot serialise two batches that both create a member
    (one member's events on two partitions): the second would overwrite the first."""
    wanted = sorted(set(members))
    rows = list(await db.fetch(query, wanted))
    found = {r[0] for r in rows}
    missing = [m for m in wanted if m not in found]
    if missing:
        await db.execute(_LOCK_NAMES, namespace, missing)  # in id order: no deadlock
        rows += await db.fetch(query, missing)  # created meanwhile by who held the lock
    return rows
