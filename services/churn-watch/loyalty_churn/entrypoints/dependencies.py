"""What every churn-watch route shares: access rules, the service, the moment, the scorer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from loyalty_churn.bootstrap import ChurnWatchService
from loyalty_churn.domain.watch import Scorer
from loyalty_platform.access import Allow
from loyalty_platform.http import Moment, as_of_moment, running
from loyalty_platform.service import wall_clock

# Ops only: a member never sees their own churn risk.
READ = Allow(scope="churn:read")
FIT = Allow(scope="churn:model")
AsOf = Annotated[
    Moment | None,
    Query(description="RFC 3339 moment to score as of (default: now, or the latest event time)"),
]


Churn = Annotated[ChurnWatchService, Depends(running(ChurnWatchService))]


async def scorer_in_use(service: ChurnWatchService) -> tuple[Scorer, int | None]:
    async with service.uow() as u:
        latest = await u.watch.latest_model()
    if latest is None:
        return service.handler.scorer(None), None
    return service.handler.scorer(latest[1]), latest[0]


async def scoring_moment(service: ChurnWatchService, as_of: datetime | None) -> datetime:
    moment = as_of_moment(as_of)
    if moment is not None:
        return moment
    if service.settings.clock == "wall":
        return wall_clock()
    async with service.uow() as u:
        latest = await u.watch.clocks.latest()
    return latest or wall_clock()
