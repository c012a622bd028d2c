"""Settings shared by every service, read from the environment."""

from __future__ import annotations

from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loyalty_kernel.programme import Programme, load_programme
from loyalty_kernel.topics import TopicNames
from loyalty_platform.access.settings import AccessSettings


class KafkaSettings(BaseSettings):
    """Where the broker is and how topics are laid out (`KAFKA_*`)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_prefix: str = ""
    # How this process authenticates to the broker: each service is a principal of its
    # own, which the broker's ACLs let read and write only its topics.
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None  # the CA that signed the brokers' certificates

    @property
    def topics(self) -> TopicNames:
        return TopicNames().prefixed(self.topic_prefix)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    def client_options(self) -> dict[str, Any]:
        """What every aiokafka client of this process is built with."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        return options


def asyncpg_url(url: str) -> str:
    """Accept the usual `postgresql://` form and name the asyncpg driver."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/loyalty"


class ProgrammeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    loyalty_programme: str | None = Field(None, validation_alias="LOYALTY_PROGRAMME")

    def load(self) -> Programme:
        return load_programme(self.loyalty_programme)


class ServiceSettings(BaseSettings):
    """What every service reads; each service names its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    programme: Programme = Field(default_factory=lambda: ProgrammeSettings().load())
    access: AccessSettings = Field(default_factory=AccessSettings)
    # How long a relay waits before taking over from one that did not let go: longer
    # than a send may take (the producer's request timeout is 15 s).
    relay_takeover_seconds: float = Field(20.0, ge=0)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        if not url.startswith(("postgresql", "postgres://")):
            raise ValueError("DATABASE_URL must be a PostgreSQL URL (postgresql://...)")
        return asyncpg_url(url)


def service_environment(prefix: str) -> SettingsConfigDict:
    """A service's settings come from variables named `<prefix>NAME`."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore")


def database_url_field(prefix: str) -> Any:
    """`<prefix>DATABASE_URL` wins over the platform-wide `DATABASE_URL`."""
    return Field(
        DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices(f"{prefix}DATABASE_URL", "DATABASE_URL"),
    )


def port_field(default: int) -> Any:
    return Field(default, ge=1, le=65535)


class ConsumingSettings(ServiceSettings):
    """What a service that consumes topics reads besides: its consumer group, how many
    messages a batch takes, and how long without progress turns readiness red."""

    consumer_group: str
    batch_size: int = Field(1000, ge=1, le=50_000)
    stall_seconds: float = Field(30.0, gt=0)
    # Messages in a row that may break the handler, with nothing applied between, before
    # the runner takes it for a fault of its own and stops dead-lettering.
    poison_run_limit: int = Field(3, ge=1, le=1000)
    # How long the group waits for a silent member before handing its partitions on:
    # the longest a crashed replica's partitions stand still.
    session_timeout_seconds: float = Field(10.0, ge=6, le=300)
