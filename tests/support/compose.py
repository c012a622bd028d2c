"""docker-compose.yml as compose reads it, and the variables each service's settings read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from loyalty_churn.settings import ChurnWatchSettings
from loyalty_platform.settings import ProgrammeSettings, ServiceSettings
from loyalty_points.settings import PointsSettings
from loyalty_rewards.settings import RewardsSettings
from loyalty_tiers.settings import TiersSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Each service's settings; what its process reads is those (with the nested KAFKA_*
# ones) and the programme file path their default factory loads.
SETTINGS: dict[str, type[ServiceSettings]] = {
    "points": PointsSettings,
    "tiers": TiersSettings,
    "rewards": RewardsSettings,
    "churn-watch": ChurnWatchSettings,
}
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")

Compose = dict[str, Any]


def interpolate(value: Any) -> Any:
    """Resolve `${VAR:-default}` as compose does without a `.env`; `$$` is a literal `$`."""
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, str):
        return INTERPOLATION.sub(_substitute, value)
    return value


def _substitute(match: re.Match[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    default = match.group("default")
    # A variable without a default would make a fresh `docker compose up` misconfigured.
    assert default is not None, f"{match.group(0)} needs a default"
    return default


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable name a settings class reads, nested settings included."""
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            names |= env_names(field.annotation)
        elif isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def accepted_env(service: str) -> set[str]:
    return env_names(SETTINGS[service]) | env_names(ProgrammeSettings)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {name: str(value) for name, value in env.items()}


def listeners(spec: str) -> dict[str, str]:
    """`NAME://host:port,...` as {name: "host:port"}."""
    parsed = (urlsplit(entry.strip()) for entry in spec.split(","))
    return {url.scheme.upper(): url.netloc for url in parsed}
