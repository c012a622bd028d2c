"""API keys in PostgreSQL: only digests are kept; a revoked key stops working on every
replica once its cache time has passed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from loyalty_platform.access.credentials import Kind, read_key
from loyalty_platform.access.keystore import KeyStore
from loyalty_platform.access.migrations import MIGRATIONS_DIR
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.migrations import upgrade
from loyalty_platform.settings import asyncpg_url


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator:
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, database_url)
    engine = create_engine(asyncpg_url(database_url), pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


async def test_an_issued_key_is_known_and_its_secret_is_not_kept(sessions) -> None:
    keys = KeyStore(sessions)
    issued = await keys.issue(Kind.TILL, store_id="store-17", till_id="till-3", label="front")
    presented = read_key(issued.text)
    assert presented is not None
    holder = await keys.holder(presented)
    assert holder == issued.holder
    assert (holder.kind, holder.store_id, holder.till_id) == (Kind.TILL, "store-17", "till-3")
    async with sessions() as session:
        stored = (await session.execute(text("select * from access.api_keys"))).one()
    assert presented.secret not in str(tuple(stored))
    assert stored.secret_sha256 == presented.digest()


async def test_a_wrong_secret_for_a_known_key_id_is_refused(sessions) -> None:
    keys = KeyStore(sessions)
    issued = await keys.issue(Kind.OPS, scopes=frozenset({"churn:read"}))
    key_id = issued.holder.key_id
    forged = read_key(f"{key_id}.{'A' * 43}")
    assert forged is not None
    assert await keys.holder(forged) is None


async def test_a_revocation_reaches_another_replica_when_its_cache_time_is_up(sessions) -> None:
    clock = Clock()
    here, there = KeyStore(sessions), KeyStore(sessions, cache_seconds=5, clock=clock)
    issued = await here.issue(Kind.SERVICE, scopes=frozenset({"points:debit"}))
    key = read_key(issued.text)
    assert key is not None
    assert await there.holder(key) is not None  # verified, and remembered for 5 s
    assert await here.revoke(issued.holder.key_id) is True
    assert await here.revoke(issued.holder.key_id) is False  # once
    assert await here.holder(key) is None
    clock.now = 4.9
    assert await there.holder(key) is not None
    clock.now = 5.1
    assert await there.holder(key) is None


async def test_working_development_keys_are_listed_for_the_production_check(sessions) -> None:
    keys = KeyStore(sessions)
    dev = await keys.issue(Kind.OPS, scopes=frozenset({"churn:read"}), development=True)
    gone = await keys.issue(Kind.OPS, scopes=frozenset({"churn:read"}), development=True)
    await keys.issue(Kind.OPS, scopes=frozenset({"churn:read"}))
    await keys.revoke(gone.holder.key_id)
    assert await keys.development_keys() == [dev.holder.key_id]
    records = await keys.records()
    assert [r.revoked_at is not None for r in records] == [False, True, False]
