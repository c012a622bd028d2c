"""The services the platform runs, as the CLI starts and migrates them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loyalty_churn.migrations import MIGRATIONS_DIR as CHURN_MIGRATIONS
from loyalty_points.migrations import MIGRATIONS_DIR as POINTS_MIGRATIONS
from loyalty_rewards.migrations import MIGRATIONS_DIR as REWARDS_MIGRATIONS
from loyalty_tiers.migrations import MIGRATIONS_DIR as TIERS_MIGRATIONS


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    env_prefix: str
    port: int
    migrations: Path


SERVICES = (
    ServiceSpec("points", "loyalty_points", "POINTS_", 8001, POINTS_MIGRATIONS),
    ServiceSpec("tiers", "loyalty_tiers", "TIERS_", 8002, TIERS_MIGRATIONS),
    ServiceSpec("rewards", "loyalty_rewards", "REWARDS_", 8003, REWARDS_MIGRATIONS),
    ServiceSpec("churn-watch", "loyalty_churn", "CHURN_", 8004, CHURN_MIGRATIONS),
)
