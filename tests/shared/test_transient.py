"""Which failures the runner retries (the infrastructure) and which it isolates (a message)."""

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from loyalty_platform.database import create_engine
from loyalty_platform.runner import is_transient
from loyalty_platform.settings import asyncpg_url


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("select 1", {}, Exception("server closed the connection")),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.LockNotAvailableError("could not obtain lock"),
        asyncpg.exceptions.DiskFullError("could not extend file"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients already"),
        asyncpg.exceptions.OutOfMemoryError("out of memory"),
        # SQLAlchemy's wrapping of the same, as the ORM paths raise them
        DBAPIError("update", {}, asyncpg.exceptions.QueryCanceledError("timeout")),
        PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
        ConnectionResetError(),
        KafkaConnectionError(),
    ],
)
def test_infrastructure_failures_are_retried(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad amount"),
        KeyError("member"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.CheckViolationError("check"),
    ],
)
def test_a_message_or_code_fault_is_not_retried(exc):
    assert not is_transient(exc)


async def test_a_statement_timeout_and_a_lock_timeout_on_the_real_database_are_retried(
    database_url,
):
    engine = create_engine(asyncpg_url(database_url))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("set statement_timeout = 20"))
            with pytest.raises(DBAPIError) as timed_out:
                await conn.execute(text("select pg_sleep(1)"))
        async with engine.connect() as holder, engine.connect() as waiter:
            await waiter.execute(text("set lock_timeout = 20"))
            await waiter.execute(text("create table t (n int)"))
            await waiter.commit()
            await holder.execute(text("lock table t"))
            with pytest.raises(DBAPIError) as locked:
                await waiter.execute(text("select * from t"))
    finally:
        await engine.dispose()
    assert is_transient(timed_out.value)
    assert is_transient(locked.value)
