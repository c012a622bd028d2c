"""The points service's FastAPI app: API, health and metrics, consumer and relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loyalty_points.bootstrap import build
from loyalty_points.entrypoints.routes import router
from loyalty_points.settings import PointsSettings
from loyalty_shared.http import health_router, install_error_handlers


def create_app(settings: PointsSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or PointsSettings()

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
        title="Loyalty points",
        version="1.0",
        description="The points ledger: balances, ledger history, purchase and refund ingest.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(health_router())
    return app
