"""Opening the key store and a service's gate, and refusing to start a production
service that still runs on development credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_platform.access.guard import Gate, SecurityEvents
from loyalty_platform.access.keystore import KeyStore
from loyalty_platform.access.settings import AccessSettings, insecure_settings
from loyalty_platform.database import create_engine, session_factory
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.settings import asyncpg_url


class InsecureConfiguration(RuntimeError):
    """A production start-up with development credentials or defaults."""


@asynccontextmanager
async def key_store_at(database_url: str, *, cache_seconds: float = 5.0) -> AsyncIterator[KeyStore]:
    """A key store on an engine of its own: for tools that issue and revoke keys, and
    for services whose keys live in another database (ACCESS_DATABASE_URL)."""
    engine = create_engine(asyncpg_url(database_url), pool_size=2)
    try:
        yield KeyStore(session_factory(engine), cache_seconds=cache_seconds)
    finally:
        await engine.dispose()


@asynccontextmanager
async def opened_gate(
    settings: AccessSettings,
    service_sessions: async_sessionmaker[AsyncSession],
    metrics: ServiceMetrics,
) -> AsyncIterator[Gate]:
    """The service's gate, on the service's own database unless ACCESS_DATABASE_URL
    names the one that keeps the keys."""
    async with AsyncExitStack() as stack:
        cache = settings.key_cache_seconds
        if settings.database_url is None:
            keys = KeyStore(service_sessions, cache_seconds=cache)
        else:
            keys = await stack.enter_async_context(
                key_store_at(settings.database_url, cache_seconds=cache)
            )
        events = SecurityEvents(metrics.service, metrics.security_events)
        gate = Gate(settings, keys, events, metrics.auth_failures)
        if settings.production:
            await refuse_insecure(gate)
        yield gate


async def refuse_insecure(gate: Gate) -> None:
    problems = insecure_settings(gate.settings)
    development = await gate.keys.development_keys()
    if development:
        problems.append(
            f"{len(development)} development API keys still work "
            f"(revoke them: loyalty keys revoke {development[0]} ...)"
        )
    if problems:
        raise InsecureConfiguration(
            "refusing to start with LOYALTY_ENV=production: " + "; ".join(problems)
        )
