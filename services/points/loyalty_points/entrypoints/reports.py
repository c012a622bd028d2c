"""Finance's view of the points: the programme's liability as of any moment (ops)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loyalty_platform.access import Allow
from loyalty_platform.http import (
    ACCESS_ERRORS,
    ApiError,
    Moment,
    as_of_moment,
    error_responses,
    running,
)
from loyalty_points.bootstrap import PointsService
from loyalty_points.entrypoints.schemas import (
    BreakageOut,
    ExpiringOut,
    HoldingOut,
    LiabilityOut,
    PeriodOut,
)
from loyalty_points.service_layer.liability import CENTS, liability

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
REPORT = Allow(scope="points:read")  # ops and services; no member key
DEFAULT_PERIOD = timedelta(days=30)
Points = Annotated[PointsService, Depends(running(PointsService))]


@router.get(
    "/points/liability",
    response_model=LiabilityOut,
    responses=error_responses(422),
    dependencies=[Depends(REPORT)],
)
async def get_liability(
    service: Points,
    as_of: Annotated[Moment | None, Query(description="RFC 3339 (default: now)")] = None,
    start: Annotated[
        Moment | None, Query(alias="from", description="Period start (default: `to` - 30 days)")
    ] = None,
    end: Annotated[
        Moment | None, Query(alias="to", description="Period end (default: as_of)")
    ] = None,
) -> LiabilityOut:
    """What members hold as of a moment, and its value at the programme's point value;
    what they owe; the points earned, vested, redeemed, restored, clawed back, adjusted
    and expired in the period (from, to]; breakage over the 12 months up to the moment;
    and what expires in the next 30, 60 and 90 days unless spent."""
    moment = as_of_moment(as_of) or datetime.now(UTC)
    until = as_of_moment(end, "to") or moment
    since = as_of_moment(start, "from") or until - DEFAULT_PERIOD
    if until <= since:
        raise ApiError(422, "invalid_period", "to must be after from")
    value = service.settings.programme.points.point_value
    async with service.sessions() as session:
        found = await liability(session, moment, since, until, value)
    flows = found.period
    return LiabilityOut(
        as_of=moment,
        currency=service.settings.programme.currency,
        point_value=value,
        outstanding=HoldingOut(
            points=found.outstanding, members=found.members_holding, value=found.value
        ),
        owed=HoldingOut(points=found.owed, members=found.members_owing),
        available=found.available,
        pending=found.pending,
        period=PeriodOut(
            start=since,
            end=until,
            earned=flows.earned,
            vested=flows.vested,
            redeemed=flows.redeemed,
            restored=flows.restored,
            clawed_back=flows.clawed_back,
            adjusted=flows.adjusted,
            expired=flows.expired,
        ),
        breakage=BreakageOut(
            start=moment - timedelta(days=365),
            end=moment,
            earned=found.trailing_earned,
            expired=found.trailing_expired,
            rate=found.breakage,
        ),
        expiring=[
            ExpiringOut(within_days=days, points=points, value=(points * value).quantize(CENTS))
            for days, points in found.expiring.items()
        ],
    )
