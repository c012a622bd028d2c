"""The real parts every integration test runs on: PostgreSQL and a Kafka-protocol broker.

PostgreSQL is the embedded server unless TEST_DATABASE_URL names another; the broker
is the embedded one. Each test gets a database and topic names of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from loyalty_churn.migrations import MIGRATIONS_DIR as CHURN_MIGRATIONS
from loyalty_cli.stack import EmbeddedBroker, EmbeddedDatabase, create_database, drop_database
from loyalty_platform.access.migrations import MIGRATIONS_DIR as ACCESS_MIGRATIONS
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.migrations import upgrade
from loyalty_platform.settings import KafkaSettings
from loyalty_points.migrations import MIGRATIONS_DIR as POINTS_MIGRATIONS
from loyalty_rewards.migrations import MIGRATIONS_DIR as REWARDS_MIGRATIONS
from loyalty_tiers.migrations import MIGRATIONS_DIR as TIERS_MIGRATIONS


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    # A short path: the server's socket lives under it and socket paths are limited.
    root = Path(tempfile.mkdtemp(prefix="lpg"))
    db = EmbeddedDatabase(root / "data")
    db.start()
    yield db.url()
    db.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    b = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log")
    b.start()
    yield b
    b.stop()


@pytest.fixture
async def database_url(database_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = await create_database(database_server, name)
    yield url
    await drop_database(database_server, name)


@pytest.fixture
async def new_database(database_server: str) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Makes more fresh databases, migrated for the service whose migrations are given."""
    names: list[str] = []

    async def make(migrations: Path | None = None) -> str:
        names.append(f"t_{uuid.uuid4().hex[:16]}")
        url = await create_database(database_server, names[-1])
        if migrations is not None:
            await asyncio.to_thread(upgrade, ACCESS_MIGRATIONS, url)
            await asyncio.to_thread(upgrade, migrations, url)
        return url

    yield make
    for name in names:
        await drop_database(database_server, name)


@pytest.fixture
async def points_database(database_url: str) -> str:
    """A fresh database migrated for the API keys and the points service."""
    await asyncio.to_thread(upgrade, ACCESS_MIGRATIONS, database_url)
    await asyncio.to_thread(upgrade, POINTS_MIGRATIONS, database_url)
    return database_url


@pytest.fixture
async def tiers_database(database_url: str) -> str:
    """A fresh database migrated for the tier service."""
    await asyncio.to_thread(upgrade, ACCESS_MIGRATIONS, database_url)
    await asyncio.to_thread(upgrade, TIERS_MIGRATIONS, database_url)
    return database_url


@pytest.fixture
async def churn_database(database_url: str) -> str:
    """A fresh database migrated for the churn watch."""
    await asyncio.to_thread(upgrade, ACCESS_MIGRATIONS, database_url)
    await asyncio.to_thread(upgrade, CHURN_MIGRATIONS, database_url)
    return database_url


@pytest.fixture
async def platform_database(database_url: str) -> str:
    """A fresh database migrated for the points, tier and rewards services together."""
    for migrations in (ACCESS_MIGRATIONS, POINTS_MIGRATIONS, TIERS_MIGRATIONS, REWARDS_MIGRATIONS):
        await asyncio.to_thread(upgrade, migrations, database_url)
    return database_url


@pytest.fixture
async def kafka(broker: EmbeddedBroker) -> KafkaSettings:
    """Broker settings with topics of this test's own, created."""
    settings = KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_partitions=3,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    await ensure_topics(settings, settings.topics.all())
    return settings
