"""The tier service's settings (`TIERS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loyalty_platform.settings import (
    ConsumingSettings,
    database_url_field,
    port_field,
    service_environment,
)


class TiersSettings(ConsumingSettings):
    model_config = service_environment("TIERS_")

    database_url: str = database_url_field("TIERS_")
    consumer_group: str = "tiers"
    port: int = port_field(8002)
    # "wall": downgrades also fall due by the wall clock (live). "event": by consumed
    # event time alone, so a replay of a log gives the same events every time.
    clock: Literal["wall", "event"] = "wall"
    sweep_seconds: float = Field(1.0, gt=0, le=3600)
