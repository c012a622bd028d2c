"""A service's app, and running it under uvicorn as every service's `__main__` does."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.startup import opened_gate
from loyalty_platform.http import health_router, install_error_handlers
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.request_size import BodyLimit


def serve(app: FastAPI, *, package: str, host: str, port: int) -> None:
    # Our own loggers at INFO; libraries at WARNING (SQLAlchemy at INFO logs every statement).
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for name in (package, "loyalty_kernel", "loyalty_platform"):
        logging.getLogger(name).setLevel(logging.INFO)
    tune_collector()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def tune_collector() -> None:
    """A consumer allocates a few hundred thousand short-lived objects per batch (rows,
    entries, events), nearly none of them in cycles; with the default thresholds the
    collector runs every 700 of them and re-scans the long-lived ones each time
    (`bench/points_phases.py` prints the difference). What is loaded at start is
    frozen out of its scans, and the young generation is collected less often."""
    gc.collect()  # what start-up left in cycles goes now, not frozen for good
    gc.freeze()
    gc.set_threshold(50_000, 10, 10)  # a full collection every 5M allocations


class Startable(Protocol):
    @property
    def metrics(self) -> ServiceMetrics: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...
    async def start(self, *, consume: bool = True) -> None: ...
    async def stop(self) -> None: ...


def service_app(
    *,
    title: str,
    description: str,
    build: Callable[[], Startable],
    router: APIRouter,
    access: AccessSettings,
    consume: bool = True,
) -> FastAPI:
    """A service's FastAPI app: its routes behind the access gate, health and metrics,
    error bodies, and the service itself (consumer, relay, background work) running for
    the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Built here: the Kafka clients belong to the running event loop.
        service = build()
        async with opened_gate(access, service.sessions, service.metrics) as gate:
            app.state.gate = gate
            await service.start(consume=consume)
            app.state.service = service
            try:
                yield
            finally:
                await service.stop()

    app = FastAPI(title=title, version="1.0", description=description, lifespan=lifespan)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.include_router(router)
    app.include_router(health_router())
    return app
