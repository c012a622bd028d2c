"""The churn-watch REST API: alerts, risk per member and ranked, churn rates, the model."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from loyalty_churn.bootstrap import ChurnWatchService
from loyalty_churn.domain.signals import SignalCode
from loyalty_churn.domain.watch import Scorer
from loyalty_churn.entrypoints.schemas import (
    AlertOut,
    AlertsOut,
    ChurnSummaryOut,
    FeaturesOut,
    MemberRiskOut,
    ModelOut,
    RiskPageOut,
    SignalOut,
    TierRetentionOut,
)
from loyalty_churn.service_layer import views
from loyalty_churn.service_layer.modelling import fit_and_store
from loyalty_kernel.events.money import money_text
from loyalty_platform.access import Allow
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, Moment, error_responses
from loyalty_platform.service import wall_clock

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
# Ops only: a member never sees their own churn risk.
READ = Allow(scope="churn:read")
FIT = Allow(scope="churn:model")
AsOf = Annotated[
    Moment | None,
    Query(description="RFC 3339 moment to score as of (default: now, or the latest event time)"),
]
# Periods and windows reach years back and ahead of a moment: keep clear of the
# calendar's ends.
FIRST_YEAR, LAST_YEAR = 1900, 9000
PERIOD_PATTERN = r"^(19\d\d|[2-8]\d\d\d|9000)(-Q[1-4]|-(0[1-9]|1[0-2]))?$"
CSV_COLUMNS = [
    "rank",
    "member_id",
    "risk_score",
    "severity",
    "signals",
    "tier",
    "value_at_risk",
    "last_purchase_at",
]


def _service(request: Request) -> ChurnWatchService:
    return request.app.state.service  # type: ignore[no-any-return]


async def _scorer(service: ChurnWatchService) -> tuple[Scorer, int | None]:
    async with service.uow() as u:
        latest = await u.watch.latest_model()
    if latest is None:
        return service.handler.scorer(None), None
    return service.handler.scorer(latest[1]), latest[0]


async def _as_of(service: ChurnWatchService, as_of: datetime | None) -> datetime:
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


def _risk_out(scored: views.ScoredMember, horizon: int, *, features: bool) -> MemberRiskOut:
    a, b = scored.assessment, scored.behaviour
    return MemberRiskOut(
        member_id=a.member_id,
        as_of=a.at,
        risk_score=a.score,
        horizon_days=horizon,
        severity=a.severity,
        signals=[SignalOut(**s.as_dict()) for s in a.signals],
        tier=a.tier,
        value_at_risk=a.value_at_risk,
        last_purchase_at=a.last_purchase_at,
        features=FeaturesOut(
            purchases=b.purchases,
            first_purchase_at=b.first_at,
            recency_days=round(b.recency_days, 3),
            median_gap_days=b.median_gap_days,
            spend_total=b.spend_total,
            spend_last_period=b.spend_recent,
            spend_period_before=b.spend_before,
            average_basket_last_period=_cents(b.basket_recent),
            average_basket_before=_cents(b.basket_before),
            refunds_last_period=b.refunds_recent,
            points_redeemed=b.points_redeemed,
        )
        if features
        else None,
    )


def _cents(amount: Any) -> Any:
    return None if amount is None else round(amount, 2)


@router.get(
    "/members/{member_id}/risk",
    response_model=MemberRiskOut,
    responses=error_responses(404),
    dependencies=[Depends(READ)],
)
async def get_member_risk(
    member_id: MemberId, request: Request, as_of: AsOf = None
) -> MemberRiskOut:
    service = _service(request)
    moment = await _as_of(service, as_of)
    scorer, _ = await _scorer(service)
    scored = await views.member_risk(service.uow, member_id, moment, scorer)
    if scored is None:
        raise ApiError(404, "unknown_member", f"member {member_id} has no purchase by {moment}")
    return _risk_out(scored, scorer.rules.horizon_days, features=True)


@router.get(
    "/risk",
    response_model=RiskPageOut,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    dependencies=[Depends(READ)],
)
async def get_risk(
    request: Request,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Every member's risk as of a date, riskiest first. `format=csv` returns them all."""
    service = _service(request)
    moment = await _as_of(service, as_of)
    scorer, version = await _scorer(service)
    ranked = await service.rankings.ranked(service.uow, moment, scorer, version)
    if format == "csv":
        return StreamingResponse(
            _csv_rows(ranked),
            media_type="text/csv",
            headers={"content-disposition": 'attachment; filename="risk.csv"'},
        )
    page = ranked[offset : offset + limit]
    horizon = scorer.rules.horizon_days
    return RiskPageOut(
        as_of=moment,
        model_version=version,
        total=len(ranked),
        offset=offset,
        members=[_risk_out(m, horizon, features=False) for m in page],
    )


def _csv_rows(ranked: list[views.ScoredMember]) -> Iterator[str]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(CSV_COLUMNS)
    for rank, m in enumerate(ranked, start=1):
        a = m.assessment
        out.writerow(
            [
                rank,
                a.member_id,
                a.score,
                a.severity or "",
                " ".join(s.code for s in a.signals),
                a.tier or "",
                money_text(a.value_at_risk),
                a.last_purchase_at.isoformat(),
            ]
        )
        if rank % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get("/alerts", response_model=AlertsOut, dependencies=[Depends(READ)])
async def get_alerts(
    request: Request,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    severity: Annotated[Literal["low", "medium", "high"] | None, Query()] = None,
    tier: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,32}$")] = None,
    signal: Annotated[SignalCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> AlertsOut:
    """Alerts, the largest value at risk first."""
    found = await views.alerts(
        _service(request).uow,
        views.AlertFilter(status, severity, tier, signal.value if signal else None, limit, offset),
    )
    return AlertsOut(alerts=[AlertOut(**a) for a in found])


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
    request: Request,
    period: Annotated[
        str | None, Query(pattern=PERIOD_PATTERN, description="YYYY, YYYY-Qn or YYYY-MM")
    ] = None,
) -> ChurnSummaryOut:
    """Absolute and relative churn over a period (default: the year to the latest
    event time), and retention by tier."""
    service = _service(request)
    if period is None:
        end = await _as_of(service, None)
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
async def get_model(request: Request) -> ModelOut:
    """The risk model in use."""
    scorer, version = await _scorer(_service(request))
    return _model_out(version, scorer)


@router.post("/churn/model", response_model=ModelOut, status_code=201, dependencies=[Depends(FIT)])
async def fit_model(request: Request, as_of: AsOf = None) -> ModelOut:
    """Fit the risk model on the history known as of a moment and put it in use."""
    service = _service(request)
    moment = await _as_of(service, as_of)
    version, _ = await fit_and_store(service.uow, service.settings.programme, moment)
    scorer, _ = await _scorer(service)
    return _model_out(version, scorer)
