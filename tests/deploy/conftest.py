"""The compose fixture: docker-compose.yml with its variables resolved."""

from __future__ import annotations

import pytest
import yaml

from tests.support.compose import COMPOSE_FILE, Compose, interpolate


@pytest.fixture(scope="module")
def compose() -> Compose:
    loaded: Compose = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))
    return loaded
