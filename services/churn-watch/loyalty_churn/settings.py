"""The churn watch's settings (`CHURN_*`, plus the shared `KAFKA_*` and `DATABASE_URL`).
Its thresholds are in the programme file's `[churn]` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from loyalty_platform.settings import ConsumingSettings, database_url_field


class ChurnWatchSettings(ConsumingSettings):
    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/loyalty",
        validation_alias=database_url_field("CHURN_"),
    )
    consumer_group: str = "churn-watch"
    host: str = "127.0.0.1"
    port: int = Field(8004, ge=1, le=65535)
    # "wall": assessments also fall due by the wall clock (live), and the risk model is
    # refitted every `refit_hours`. "event": by consumed event time alone, and the model
    # changes only when ops fit one, so a replay of a log gives the same alerts.
    clock: Literal["wall", "event"] = "wall"
    sweep_seconds: float = Field(5.0, gt=0, le=3600)
    refit_hours: float = Field(24.0, gt=0, le=24 * 365)
