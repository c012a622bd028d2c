"""Waiting on a running service in tests: its consumer positions, its outbox."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import func, select


async def wait_applied(
    service: Any, total: int, timeout: float = 60.0, *, progress_table: Any
) -> None:
    """Wait until the consumer's recorded positions cover `total` messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            applied = await session.scalar(select(func.sum(progress_table.next_offset)))
        if applied == total:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {applied} of {total} messages applied after {timeout}s")


async def wait_outbox_empty(service: Any, timeout: float = 30.0, *, outbox_table: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            if not await session.scalar(select(func.count()).select_from(outbox_table)):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox was not drained")


async def until_each_owns_partitions(services: list[Any], timeout: float = 60) -> None:
    """Wait until every replica in the consumer group has partitions of its own."""
    deadline = time.monotonic() + timeout
    while not all(s.runner.assignment() for s in services):
        assert time.monotonic() < deadline, "the replicas did not share the partitions"
        await asyncio.sleep(0.2)
