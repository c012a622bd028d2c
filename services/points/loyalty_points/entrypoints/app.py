"""The points service's FastAPI app: API, health and metrics, consumer and relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loyalty_points.bootstrap import PointsService, build
from loyalty_points.entrypoints.routes import router
from loyalty_points.settings import PointsSettings
from loyalty_shared.http import health_router, install_error_handlers


def create_app(settings: PointsSettings | None = None, *, consume: bool = True) -> FastAPI:
    settings = settings or PointsSettings()
    service: PointsService = build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start(consume=consume)
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
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)
    checks = {"database": service.database_ready, "broker": service.broker_ready}
    if consume:
        checks["consumer"] = service.consumer_ready
    app.include_router(health_router(checks, service.metrics))
    return app
