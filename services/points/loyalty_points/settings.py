"""The points service's settings (`POINTS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

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
