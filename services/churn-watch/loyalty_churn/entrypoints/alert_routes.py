"""The churn-watch alert routes: the alerts raised, filtered, the largest value first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from loyalty_churn.domain.signals import SignalCode
from loyalty_churn.entrypoints.dependencies import READ, Churn
from loyalty_churn.entrypoints.schemas import AlertDetailOut, AlertOut, AlertsOut
from loyalty_churn.service_layer import views
from loyalty_platform.http import ACCESS_ERRORS, ApiError, error_responses

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)


@router.get("/alerts", response_model=AlertsOut, dependencies=[Depends(READ)])
async def get_alerts(
    service: Churn,
    status: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
    severity: Annotated[Literal["low", "medium", "high"] | None, Query()] = None,
    tier: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_\-]{1,32}$")] = None,
    signal: Annotated[SignalCode | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
) -> AlertsOut:
    """Alerts as they stand now (severity, score, signals and value of the latest
    assessment), the largest value at risk first."""
    found = await views.alerts(
        service.uow,
        views.AlertFilter(status, severity, tier, signal.value if signal else None, limit, offset),
    )
    return AlertsOut(alerts=[AlertOut(**a) for a in found])


@router.get(
    "/alerts/{alert_id}",
    response_model=AlertDetailOut,
    dependencies=[Depends(READ)],
    responses=error_responses(404),
)
async def get_alert(
    service: Churn, alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)]
) -> AlertDetailOut:
    """One alert as it stands, with its history: every revision, what changed and why."""
    found = await views.alert(service.uow, alert_id)
    if found is None:
        raise ApiError(404, "unknown_alert", f"no alert {alert_id}")
    return AlertDetailOut(**found)
