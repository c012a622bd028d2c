"""Which failures the runner retries (the infrastructure) and which it isolates (a message)."""

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import OperationalError

from loyalty_platform.runner import is_transient


@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("select 1", {}, Exception("server closed the connection")),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
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
