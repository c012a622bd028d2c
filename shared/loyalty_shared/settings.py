"""Settings shared by every service, read from the environment."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loyalty_shared.access.settings import AccessSettings
from loyalty_shared.programme import Programme, load_programme


class TopicNames(BaseModel):
    """The contract's topic names; tests give each run its own."""

    purchases: str = "purchases"
    purchases_dlq: str = "purchases.dlq"
    points_events: str = "points.events"
    tiers_events: str = "tiers.events"
    rewards_events: str = "rewards.events"
    churn_alerts: str = "churn.alerts"

    def all(self) -> list[str]:
        return list(self.model_dump().values())

    def prefixed(self, prefix: str) -> TopicNames:
        return TopicNames(**{name: prefix + value for name, value in self})


class KafkaSettings(BaseSettings):
    """Where the broker is and how topics are laid out (`KAFKA_*`)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_prefix: str = ""

    @property
    def topics(self) -> TopicNames:
        return TopicNames().prefixed(self.topic_prefix)


def asyncpg_url(url: str) -> str:
    """Accept the usual `postgresql://` form and name the asyncpg driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


class ProgrammeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    loyalty_programme: str | None = Field(None, validation_alias="LOYALTY_PROGRAMME")

    def load(self) -> Programme:
        return load_programme(self.loyalty_programme)


class ServiceSettings(BaseSettings):
    """What every service reads; each service names its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/loyalty"
    consumer_group: str
    batch_size: int = Field(1000, ge=1, le=50_000)
    stall_seconds: float = Field(30.0, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    programme: Programme = Field(default_factory=lambda: ProgrammeSettings().load())
    access: AccessSettings = Field(default_factory=AccessSettings)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if not url.startswith(("postgresql", "postgres://")):
            raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        return asyncpg_url(url)


def database_url_field(service_prefix: str) -> AliasChoices:
    """`<SERVICE>_DATABASE_URL` wins over the platform-wide `DATABASE_URL`."""
    return AliasChoices(f"{service_prefix}DATABASE_URL", "DATABASE_URL")
