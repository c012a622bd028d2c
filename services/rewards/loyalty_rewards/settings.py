"""The rewards service's settings (`REWARDS_*`, plus the shared `KAFKA_*` and `DATABASE_URL`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from loyalty_platform.access.credentials import REWARDS_SERVICE_SCOPES
from loyalty_platform.settings import (
    ServiceSettings,
    database_url_field,
    port_field,
    service_environment,
)


class RewardsSettings(ServiceSettings):
    model_config = service_environment("REWARDS_")

    database_url: str = database_url_field("REWARDS_")
    port: int = port_field(8003)
    points_url: str = "http://127.0.0.1:8001"
    # Empty: no tier service; every member counts as holding the lowest tier.
    tiers_url: str = "http://127.0.0.1:8002"
    catalog: str | None = None  # the catalog TOML; the demo programme's when unset
    call_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Pending redemptions older than this are finished by a background pass.
    pending_grace_seconds: float = Field(10.0, ge=0, le=3600)
    # The rewards service's own API key (kind service, scopes points:debit,
    # points:read, tiers:read), sent to the points and tier services.
    service_key: SecretStr | None = None
    # Or a file holding it (a Docker or Kubernetes secret), read at start-up.
    service_key_file: Path | None = None
    # Abuse limit: redemption attempts per member in a sliding window, per replica.
    redemptions_per_member: int = Field(10, ge=1, le=1_000_000)
    redemption_window_seconds: float = Field(60.0, gt=0, le=86_400)
    # Tests only: "after_debit" ("after_restore") kills the process between the points
    # debit (restore) and this side's commit.
    failpoint: str | None = None

    def own_key(self) -> str | None:
        """The key, read now from REWARDS_SERVICE_KEY_FILE if that is given."""
        if self.service_key_file is not None:
            try:
                return self.service_key_file.read_text().strip() or None
            except OSError as exc:
                raise RuntimeError(f"REWARDS_SERVICE_KEY_FILE cannot be read: {exc}") from exc
        return self.service_key.get_secret_value() or None if self.service_key else None

    @model_validator(mode="after")
    def _no_failpoint_in_production(self) -> RewardsSettings:
        if self.access.production and self.failpoint:
            raise ValueError("REWARDS_FAILPOINT is for the crash tests; unset it in production")
        return self

    @model_validator(mode="after")
    def _service_key_in_production(self) -> RewardsSettings:
        missing = self.service_key_file is None and not (
            self.service_key and self.service_key.get_secret_value()
        )
        if self.access.production and missing:
            scopes = " ".join(f"--scope {s}" for s in sorted(REWARDS_SERVICE_SCOPES))
            raise ValueError(
                "REWARDS_SERVICE_KEY (or REWARDS_SERVICE_KEY_FILE) is not set: issue one with "
                f"`loyalty keys issue service {scopes}`"
            )
        return self
