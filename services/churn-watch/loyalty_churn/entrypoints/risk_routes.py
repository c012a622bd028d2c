"""The churn-watch risk routes: one member's risk with its evidence, everyone's ranked."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from loyalty_churn.entrypoints.dependencies import (
    READ,
    AsOf,
    Churn,
    scorer_in_use,
    scoring_moment,
)
from loyalty_churn.entrypoints.schemas import FeaturesOut, MemberRiskOut, RiskPageOut, SignalOut
from loyalty_churn.service_layer import views
from loyalty_kernel.events.money import money_text
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, error_responses

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
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
            average_basket_last_period=b.basket_recent,
            average_basket_before=b.basket_before,
            refunds_last_period=b.refunds_recent,
            points_redeemed=b.points_redeemed,
        )
        if features
        else None,
    )


@router.get(
    "/members/{member_id}/risk",
    response_model=MemberRiskOut,
    responses=error_responses(404),
    dependencies=[Depends(READ)],
)
async def get_member_risk(member_id: MemberId, service: Churn, as_of: AsOf = None) -> MemberRiskOut:
    moment = await scoring_moment(service, as_of)
    scorer, _ = await scorer_in_use(service)
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
    service: Churn,
    as_of: AsOf = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Every member's risk as of a date, riskiest first. `format=csv` returns them all."""
    moment = await scoring_moment(service, as_of)
    scorer, version = await scorer_in_use(service)
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
