"""The catalog TOML (`REWARDS_CATALOG`; a default for the demo programme ships here)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from loyalty_rewards.adapters.reward_fields import RewardEntry
from loyalty_rewards.domain.catalog import Reward

DEFAULT_CATALOG = Path(__file__).resolve().parents[1] / "default_catalog.toml"


class CatalogFileError(ValueError):
    """The catalog file is missing, not TOML, or breaks a rule."""


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward: list[RewardEntry]


def load_catalog(path: str | Path | None, tiers: set[str]) -> list[Reward]:
    """The file's rewards (the default catalog's when `path` is empty); each `min_tier`
    must be one of `tiers`."""
    file = Path(path) if path else DEFAULT_CATALOG
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
        rewards = _CatalogFile.model_validate(raw).reward
    except FileNotFoundError as exc:
        raise CatalogFileError(f"catalog file {file} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogFileError(f"catalog file {file} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CatalogFileError(f"catalog file {file} is invalid: {problems}") from exc
    for entry in rewards:
        if entry.min_tier is not None and entry.min_tier not in tiers:
            raise CatalogFileError(
                f"catalog file {file}: {entry.reward_id} names unknown tier {entry.min_tier}"
            )
    return [entry.to_reward() for entry in rewards]
