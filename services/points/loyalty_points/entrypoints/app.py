"""The points service's FastAPI app: API, health and metrics, consumer and relay."""

from __future__ import annotations

from fastapi import FastAPI

from loyalty_platform.serving import service_app
from loyalty_points.bootstrap import build
from loyalty_points.entrypoints.routes import api
from loyalty_points.settings import PointsSettings


def create_app(settings: PointsSettings | None = None, *, consume: bool = True) -> FastAPI:
    chosen = settings or PointsSettings()
    return service_app(
        title="Loyalty points",
        description="The points ledger: balances, ledger history, purchase and refund ingest.",
        build=lambda: build(chosen),
        router=api(),
        access=chosen.access,
        consume=consume,
    )
