"""The churn-watch API on the real database, its handler fed by the test itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from loyalty_churn.entrypoints.app import create_app
from loyalty_platform.settings import KafkaSettings
from tests.support.access import staff_auth
from tests.support.churn import churn_settings


@pytest.fixture
async def app(
    churn_database: str, kafka: KafkaSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The API on event time, no consumer: the test feeds the handler itself."""
    application = create_app(churn_settings(churn_database, kafka), consume=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        auth = await staff_auth(churn_database)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://churn", auth=auth
        ) as client:
            yield client, application.state.service
