"""What every churn-watch route shares: access rules, the service, the moment, the scorer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query

from loyalty_churn.bootstrap import ChurnWatchService
from loyalty_churn.domain.watch import Scorer
from loyalty_kernel.events.envelope import FIRST_YEAR, LAST_YEAR
from loyalty_platform.access import Allow
from loyalty_platform.http import ApiError, Moment, running
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
    if as_of is not None:
        if as_of.tzinfo is None:
            raise ApiError(422, "invalid_as_of", "as_of needs a time zone (Z or an offset)")
        if not FIRST_YEAR <= as_of.year <= LAST_YEAR:
            raise ApiError(422, "invalid_as_of", f"as_of must fall in {FIRST_YEAR}-{LAST_YEAR}")
        return as_of.astimezone(UTC)
    if service.settings.clock == "wall":
        return wall_clock()
    async with service.uow() as u:
        latest = await u.watch.clocks.latest()
    return latest or wall_clock()
