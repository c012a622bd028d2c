"""The points service's settings (`POINTS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from loyalty_platform.settings import ConsumingSettings, database_url_field


class PointsSettings(ConsumingSettings):
    model_config = SettingsConfigDict(env_prefix="POINTS_", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/loyalty",
        validation_alias=database_url_field("POINTS_"),
    )
    consumer_group: str = "points"
    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
