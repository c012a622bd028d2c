"""The tier service's FastAPI app: API, health and metrics, consumer, sweeper, relay."""

from __future__ import annotations

from fastapi import FastAPI

from loyalty_platform.serving import service_app
from loyalty_tiers.bootstrap import build
from loyalty_tiers.entrypoints.routes import router
from loyalty_tiers.settings import TiersSettings


def create_app(settings: TiersSettings | None = None, *, consume: bool = True) -> FastAPI:
    chosen = settings or TiersSettings()
    return service_app(
        title="Loyalty tiers",
        description="Tier status: each member's tier, what keeps it, the tier table, movement.",
        build=lambda: build(chosen),
        router=router,
        access=chosen.access,
        consume=consume,
    )
