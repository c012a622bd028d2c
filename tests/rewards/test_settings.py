"""What the rewards service refuses to start with (pure: settings only)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loyalty_platform.access.settings import AccessSettings
from loyalty_rewards.settings import RewardsSettings

PRODUCTION = AccessSettings.model_validate({
    "LOYALTY_ENV": "production", "LOYALTY_TOKEN_SECRET": "p" * 40,
    "LOYALTY_TOKEN_ISSUER": "https://id.shop.example",
})  # fmt: skip


def test_production_refuses_a_failpoint():
    with pytest.raises(ValidationError, match="REWARDS_FAILPOINT"):
        RewardsSettings(access=PRODUCTION, service_key="k", failpoint="after_debit")


def test_production_starts_without_one_and_development_honours_it():
    assert PRODUCTION.production
    assert RewardsSettings(access=PRODUCTION, service_key="k").failpoint is None
    assert RewardsSettings(failpoint="after_debit").failpoint == "after_debit"
