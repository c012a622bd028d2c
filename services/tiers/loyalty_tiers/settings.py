"""The tier service's settings (`TIERS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from loyalty_platform.settings import ConsumingSettings, database_url_field


class TiersSettings(ConsumingSettings):
    model_config = SettingsConfigDict(env_prefix="TIERS_", extra="ignore")

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/loyalty",
        validation_alias=database_url_field("TIERS_"),
    )
    consumer_group: str = "tiers"
    host: str = "127.0.0.1"
    port: int = Field(8002, ge=1, le=65535)
    # "wall": downgrades also fall due by the wall clock (live). "event": by consumed
    # event time alone, so a replay of a log gives the same events every time.
    clock: Literal["wall", "event"] = "wall"
    sweep_seconds: float = Field(1.0, gt=0, le=3600)
