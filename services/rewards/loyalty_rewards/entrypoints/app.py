"""The rewards service's FastAPI app: catalog, redemptions, admin, health and metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from loyalty_platform.serving import service_app
from loyalty_rewards.bootstrap import build
from loyalty_rewards.entrypoints import admin, routes
from loyalty_rewards.settings import RewardsSettings


def create_app(settings: RewardsSettings | None = None, **transports: Any) -> FastAPI:
    chosen = settings or RewardsSettings()
    router = APIRouter()
    router.include_router(routes.router)
    router.include_router(admin.router)
    return service_app(
        title="Loyalty rewards",
        description="The reward catalog, and redemptions that never overdraw or oversell.",
        build=lambda: build(chosen, **transports),
        router=router,
        access=chosen.access,
    )
