"""Access settings every service reads (`LOYALTY_ENV`, `LOYALTY_TOKEN_*`, `ACCESS_*`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Used when no secret is configured, so a bare development checkout runs; a
# production start-up refuses it (see `insecure_settings`).
DEVELOPMENT_TOKEN_SECRET = "development-only-member-token-secret-never-deploy"
DEVELOPMENT_ISSUER = "loyalty-dev"
MINIMUM_SECRET_LENGTH = 32


class AccessSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", validation_alias="LOYALTY_ENV"
    )
    # Member tokens are signed by the retailer's identity service: either with a shared
    # secret (HS256) or with a private key whose public half is given here.
    token_secret: SecretStr | None = Field(None, validation_alias="LOYALTY_TOKEN_SECRET")
    token_public_key: str | None = Field(None, validation_alias="LOYALTY_TOKEN_PUBLIC_KEY")
    token_algorithm: Literal["RS256", "ES256", "EdDSA"] = Field(
        "RS256", validation_alias="LOYALTY_TOKEN_ALGORITHM"
    )
    token_issuer: str = Field(DEVELOPMENT_ISSUER, validation_alias="LOYALTY_TOKEN_ISSUER")
    token_audience: str = Field("loyalty-api", validation_alias="LOYALTY_TOKEN_AUDIENCE")
    token_leeway_seconds: int = Field(
        30, ge=0, le=300, validation_alias="LOYALTY_TOKEN_LEEWAY_SECONDS"
    )
    # Where the API keys are kept; by default the service's own database.
    database_url: str | None = Field(None, validation_alias="ACCESS_DATABASE_URL")
    # How long a verified key is trusted without asking the database: the delay before
    # a revocation reaches every replica.
    key_cache_seconds: float = Field(5.0, ge=0, le=300, validation_alias="ACCESS_KEY_CACHE_SECONDS")
    failed_auth_limit: int = Field(20, ge=1, validation_alias="ACCESS_FAILED_AUTH_LIMIT")
    failed_auth_window_seconds: float = Field(
        60.0, gt=0, validation_alias="ACCESS_FAILED_AUTH_WINDOW_SECONDS"
    )

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def signing_secret(self) -> str:
        if self.token_secret is None:
            return DEVELOPMENT_TOKEN_SECRET
        return self.token_secret.get_secret_value()


def insecure_settings(settings: AccessSettings) -> list[str]:
    """What makes these settings unfit for production; empty when they are fit."""
    problems = []
    if settings.token_public_key is None:
        secret = settings.token_secret.get_secret_value() if settings.token_secret else ""
        if not secret or secret == DEVELOPMENT_TOKEN_SECRET:
            problems.append("LOYALTY_TOKEN_SECRET (or LOYALTY_TOKEN_PUBLIC_KEY) is not set")
        elif len(secret) < MINIMUM_SECRET_LENGTH:
            problems.append(
                f"LOYALTY_TOKEN_SECRET is shorter than {MINIMUM_SECRET_LENGTH} characters"
            )
    if settings.token_issuer == DEVELOPMENT_ISSUER:
        problems.append(f"LOYALTY_TOKEN_ISSUER is the development issuer {DEVELOPMENT_ISSUER!r}")
    return problems
