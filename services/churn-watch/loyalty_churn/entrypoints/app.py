"""The churn watch's FastAPI app: API, health and metrics, consumer, sweeper, relay."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from loyalty_churn.bootstrap import build
from loyalty_churn.entrypoints import alert_routes, churn_routes, risk_routes
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_platform.serving import service_app


def create_app(settings: ChurnWatchSettings | None = None, *, consume: bool = True) -> FastAPI:
    chosen = settings or ChurnWatchSettings()
    return service_app(
        title="Loyalty churn watch",
        description="Who is slipping away, with evidence and what they are worth: "
        "alerts, risk scores, churn rates.",
        build=lambda: build(chosen),
        router=_api(),
        access=chosen.access,
        consume=consume,
    )


def _api() -> APIRouter:
    """The REST API, one router per resource."""
    api = APIRouter()
    for resource in (risk_routes, alert_routes, churn_routes):
        api.include_router(resource.router)
    return api
