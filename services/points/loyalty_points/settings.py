"""The points service's settings (`POINTS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from loyalty_platform.settings import (
    ConsumingSettings,
    database_url_field,
    port_field,
    service_environment,
)


class PointsSettings(ConsumingSettings):
    model_config = service_environment("POINTS_")

    database_url: str = database_url_field("POINTS_")
    consumer_group: str = "points"
    port: int = port_field(8001)
    # "wall": lots also vest and expire by the wall clock (live). "event": by consumed
    # event time alone, so a replay of a log gives the same events every time.
    clock: Literal["wall", "event"] = "wall"
    sweep_seconds: float = Field(1.0, gt=0, le=3600)
