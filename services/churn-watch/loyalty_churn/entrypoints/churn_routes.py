"""The churn-watch churn routes: churn rates over a period, and the risk model in use."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from loyalty_churn.domain.watch import Scorer
from loyalty_churn.entrypoints.dependencies import (
    FIT,
    READ,
    AsOf,
    Churn,
    scorer_in_use,
    scoring_moment,
)
from loyalty_churn.entrypoints.schemas import ChurnSummaryOut, ModelOut, TierRetentionOut
from loyalty_churn.service_layer import views
from loyalty_churn.service_layer.modelling import fit_and_store
from loyalty_kernel.events.envelope import FIRST_YEAR, LAST_YEAR
from loyalty_platform.http import ACCESS_ERRORS, ApiError

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
# The years FIRST_YEAR to LAST_YEAR, as a query pattern.
PERIOD_PATTERN = r"^(19\d\d|[2-8]\d\d\d|9000)(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
_PERIOD = re.compile(r"^(\d{4})(?:-(?:Q([1-4])|(\d{2})))?$")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """`2026`, `2026-Q3` or `2026-11`, as [start, end) in UTC."""
    match = _PERIOD.match(period)
    if match is None:
        raise ApiError(422, "invalid_period", "period must be YYYY, YYYY-Qn or YYYY-MM")
    year, quarter, month = int(match[1]), match[2], match[3]
    if quarter:
        first, months = (int(quarter) - 1) * 3 + 1, 3
    elif month:
        first, months = int(month), 1
        if not 1 <= first <= 12:
            raise ApiError(422, "invalid_period", "month must be 01 to 12")
    else:
        first, months = 1, 12
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ApiError(422, "invalid_period", f"the year must fall in {FIRST_YEAR}-{LAST_YEAR}")
    start = datetime(year, first, 1, tzinfo=UTC)
    last = first + months
    end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


@router.get("/churn/summary", response_model=ChurnSummaryOut, dependencies=[Depends(READ)])
async def get_churn_summary(
    service: Churn,
    period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="YYYY, YYYY-Qn or YYYY-MM")
    ] = None,
) -> ChurnSummaryOut:
    """Absolute and relative churn over a period (default: the year to the latest
    event time), and retention by tier."""
    if period is None:
        end = await scoring_moment(service, None)
        start = end - timedelta(days=365)
    else:
        start, end = period_bounds(period)
    rules = service.settings.programme.churn
    lowest = service.settings.programme.tiers.levels[0].name
    s = await views.churn_summary(service.uow, start, end, rules.horizon, lowest)
    return ChurnSummaryOut(
        start=s.start,
        end=s.end,
        complete=s.complete,
        horizon_days=rules.horizon_days,
        customers=s.customers,
        lost=s.lost,
        absolute_churn_rate=s.absolute_churn_rate,
        relative_churn_rate=s.relative_churn_rate,
        by_tier=[
            TierRetentionOut(tier=t.tier, customers=t.customers, lost=t.lost, retention=t.retention)
            for t in s.by_tier
        ],
    )


def _model_out(version: int | None, scorer: Scorer) -> ModelOut:
    m = scorer.model
    return ModelOut(
        version=version,
        fitted_as_of=m.fitted_as_of,
        horizon_days=m.horizon_days,
        calibrated=m.calibration is not None,
        lifetimes=m.lifetimes.to_dict(),
        training=m.training,
    )


@router.get("/churn/model", response_model=ModelOut, dependencies=[Depends(READ)])
async def get_model(service: Churn) -> ModelOut:
    """The risk model in use."""
    scorer, version = await scorer_in_use(service)
    return _model_out(version, scorer)


@router.post("/churn/model", response_model=ModelOut, status_code=201, dependencies=[Depends(FIT)])
async def fit_model(service: Churn, as_of: AsOf = None) -> ModelOut:
    """Fit the risk model on the history known as of a moment and put it in use."""
    moment = await scoring_moment(service, as_of)
    version, _ = await fit_and_store(service.uow, service.settings.programme, moment)
    scorer, _ = await scorer_in_use(service)
    return _model_out(version, scorer)
