"""What the routes are given by FastAPI: the running rewards service, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from loyalty_platform.http import running
from loyalty_rewards.bootstrap import RewardsService

RewardsDep = Annotated[RewardsService, Depends(running(RewardsService))]
