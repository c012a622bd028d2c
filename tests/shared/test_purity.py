"""The kernel and every service's domain are pure, transitively: importing one of their
modules loads no database, broker, web or metrics library, and nothing of the platform."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "loyalty_platform",
    "sqlalchemy",
    "asyncpg",
    "aiokafka",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "prometheus_client",
    "alembic",
)
PURE_PACKAGES = {
    "loyalty_kernel": ROOT / "shared" / "loyalty_kernel",
    "loyalty_points.domain": ROOT / "services" / "points" / "loyalty_points" / "domain",
    "loyalty_tiers.domain": ROOT / "services" / "tiers" / "loyalty_tiers" / "domain",
    "loyalty_rewards.domain": ROOT / "services" / "rewards" / "loyalty_rewards" / "domain",
    "loyalty_churn.domain": ROOT / "services" / "churn-watch" / "loyalty_churn" / "domain",
}

_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
loaded = {m.split(".")[0] if not m.startswith("loyalty_") else m for m in set(sys.modules) - before}
print(json.dumps(sorted(loaded)))
"""


def pure_modules() -> list[str]:
    found = []
    for package, folder in PURE_PACKAGES.items():
        for file in sorted(folder.rglob("*.py")):
            parts = file.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append(".".join((package, *parts)))
    return found


def test_every_pure_package_is_found():
    modules = pure_modules()
    assert "loyalty_kernel.events.purchases" in modules
    assert "loyalty_points.domain.ledger" in modules
    assert "loyalty_churn.domain.lifetimes" in modules


@pytest.mark.parametrize("module", pure_modules())
def test_a_pure_module_imports_no_infrastructure(module):
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=True
    )
    loaded = json.loads(probe.stdout)
    impure = [m for m in loaded if m.split(".")[0] in FORBIDDEN or m.startswith(FORBIDDEN)]
    assert not impure, f"importing {module} loads {impure}"


def test_the_probe_would_see_infrastructure():
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, "loyalty_platform.database"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sqlalchemy" in json.loads(probe.stdout)
