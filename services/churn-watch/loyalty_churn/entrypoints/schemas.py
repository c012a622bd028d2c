"""Response bodies of the churn-watch API (separate from tables and events). Money is
a decimal string, as on the topics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from loyalty_kernel.events.money import Money

Severity = Literal["low", "medium", "high"]


class SignalOut(BaseModel):
    code: str
    observed: float
    threshold: float


class FeaturesOut(BaseModel):
    purchases: int
    first_purchase_at: datetime
    recency_days: float
    median_gap_days: float | None
    spend_total: Money
    spend_last_period: Money
    spend_period_before: Money
    average_basket_last_period: Money | None
    average_basket_before: Money | None
    refunds_last_period: int
    points_redeemed: int


class MemberRiskOut(BaseModel):
    member_id: str
    as_of: datetime
    risk_score: float  # probability of no purchase within the horizon
    horizon_days: int
    severity: Severity | None  # null: below the lowest band
    signals: list[SignalOut]
    tier: str | None
    value_at_risk: Money
    last_purchase_at: datetime
    features: FeaturesOut | None = None


class RiskPageOut(BaseModel):
    as_of: datetime
    model_version: int | None  # null: the built-in prior, no model fitted yet
    total: int
    offset: int
    members: list[MemberRiskOut]


class AlertOut(BaseModel):
    alert_id: int
    member_id: str
    status: Literal["open", "resolved"]
    severity: Severity
    risk_score: float
    signals: list[SignalOut]
    tier: str | None
    value_at_risk: Money
    last_purchase_at: datetime
    opened_at: datetime
    updated_at: datetime  # the latest assessment: what the alert shows is as of then
    revised_at: datetime  # the latest revision (a change of severity or signals)
    revision: int
    resolved_at: datetime | None


class AlertChangesOut(BaseModel):
    severity_from: Severity | None  # null: the alert opened
    severity_to: Severity | None  # null: the alert resolved
    signals_added: list[str]
    signals_removed: list[str]
    cause: Literal["purchase", "refund", "tier_change", "time"]
    reason: str


class AlertRevisionOut(BaseModel):
    revision: int
    move: Literal["opened", "escalated", "de_escalated", "resolved"]
    at: datetime
    severity: Severity  # as held then; at resolution, the last held
    risk_score: float
    signals: list[SignalOut]
    tier: str | None
    value_at_risk: Money
    last_purchase_at: datetime
    changes: AlertChangesOut


class AlertDetailOut(AlertOut):
    history: list[AlertRevisionOut]  # the first first


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


class TierRetentionOut(BaseModel):
    tier: str
    customers: int
    lost: int
    retention: float | None


class ChurnSummaryOut(BaseModel):
    start: datetime
    end: datetime
    complete: bool  # false while the data does not reach the period's end
    horizon_days: int
    customers: int
    lost: int
    absolute_churn_rate: float | None  # lost / customers
    relative_churn_rate: float | None  # lost customers' spend / all customers' spend
    by_tier: list[TierRetentionOut]


class ModelOut(BaseModel):
    version: int | None
    fitted_as_of: datetime | None
    horizon_days: int
    calibrated: bool  # false: the BG/NBD probability alone
    lifetimes: dict[str, float]
    training: dict[str, object] | None
