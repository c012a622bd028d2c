"""The churn watch's settings (`CHURN_*`, plus the shared `KAFKA_*` and `DATABASE_URL`).
Its thresholds are in the programme file's `[churn]` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loyalty_platform.settings import (
    ConsumingSettings,
    database_url_field,
    port_field,
    service_environment,
)


class ChurnWatchSettings(ConsumingSettings):
    model_config = service_environment("CHURN_")

    database_url: str = database_url_field("CHURN_")
    consumer_group: str = "churn-watch"
    port: int = port_field(8004)
    # "wall": assessments also fall due by the wall clock (live), and the risk model is
    # refitted every `refit_hours`. "event": by consumed event time alone, and the model
    # changes only when ops fit one, so a replay of a log gives the same alerts.
    clock: Literal["wall", "event"] = "wall"
    sweep_seconds: float = Field(5.0, gt=0, le=3600)
    refit_hours: float = Field(24.0, gt=0, le=24 * 365)
