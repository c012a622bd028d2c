"""The tier service's FastAPI app: API, health and metrics, consumer, sweeper, relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loyalty_shared.http import health_router, install_error_handlers
from loyalty_tiers.bootstrap import build
from loyalty_tiers.entrypoints.routes import router
from loyalty_tiers.settings import TiersSettings


def create_app(settings: TiersSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or TiersSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built here: the Kafka clients belong to the running event loop.
        service = build(settings)
        await service.start(consume=consume)
        app.state.service = service
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="Loyalty tiers",
        version="1.0",
        description="Tier status: each member's tier, what keeps it, the tier table, movement.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router())
    return app
