"""Opening a service's gate at start-up, and refusing to start a production service
that still runs on development credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_shared.access.guard import Gate, SecurityEvents
from loyalty_shared.access.keystore import KeyStore
from loyalty_shared.access.settings import AccessSettings, insecure_settings
from loyalty_shared.db import create_engine, session_factory
from loyalty_shared.metrics import ServiceMetrics
from loyalty_shared.settings import asyncpg_url


class InsecureConfiguration(RuntimeError):
    """A production start-up with development credentials or defaults."""


@asynccontextmanager
async def opened_gate(
    settings: AccessSettings,
    service_sessions: async_sessionmaker[AsyncSession],
    metrics: ServiceMetrics,
) -> AsyncIterator[Gate]:
    """The service's gate, on the service's own database unless ACCESS_DATABASE_URL
    names the one that keeps the keys."""
    engine = None
    sessions = service_sessions
    if settings.database_url is not None:
        engine = create_engine(asyncpg_url(settings.database_url), pool_size=2)
        sessions = session_factory(engine)
    try:
        keys = KeyStore(sessions, cache_seconds=settings.key_cache_seconds)
        events = SecurityEvents(metrics.service, metrics.security_events)
        gate = Gate(settings, keys, events, metrics.auth_failures)
        if settings.production:
            await refuse_insecure(gate)
        yield gate
    finally:
        if engine is not None:
            await engine.dispose()


async def refuse_insecure(gate: Gate, *more_problems: str) -> None:
    problems = [*insecure_settings(gate.settings), *more_problems]
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
