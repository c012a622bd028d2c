"""`churn.alerts`: a member at risk of leaving, and the member coming back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing
from loyalty_kernel.events.money import Money

CHURN_SOURCE = "loyalty/churn-watch"
CHURN_ALERT = "loyalty.churn.alert.v1"
CHURN_ALERT_RESOLVED = "loyalty.churn.alert_resolved.v1"
Severity = Literal["low", "medium", "high"]


class SignalSeen(PublishedData):
    code: str  # lapsed, overdue, downward_migration, shrinking_basket, ...
    observed: float
    threshold: float


class AlertChanges(PublishedData):
    """What a revision changed, and what the assessment behind it was made for."""

    severity_from: Severity | None  # None when the alert opened
    severity_to: Severity | None  # None when it resolved
    signals_added: list[str]
    signals_removed: list[str]
    cause: Literal["purchase", "refund", "tier_change", "time"]
    reason: str  # the same, in a sentence for people


class ChurnAlerted(PublishedData):
    member_id: str
    severity: Severity
    risk_score: float  # 0..1: the probability of no purchase within the horizon
    signals: list[SignalSeen]
    tier: str | None
    value_at_risk: Money
    last_purchase_at: datetime
    opened_at: datetime
    revision: int  # each change of band or signals is a new revision
    status: Literal["opened", "escalated", "de_escalated"]
    changes: AlertChanges


class ChurnAlertResolved(PublishedData):
    member_id: str
    opened_at: datetime
    resolved_at: datetime
    severity: Severity  # the last held
    risk_score: float
    last_purchase_at: datetime
    revision: int
    changes: AlertChanges


def churn_alert_event(alert: ChurnAlerted, at: datetime) -> CloudEvent:
    """Its id follows from the member, the moment the alert opened and the revision, so
    a replay publishes the same ids."""
    opened = alert.opened_at.isoformat()
    return outgoing(
        CHURN_ALERT,
        source=CHURN_SOURCE,
        id_parts=("churn-alert", alert.member_id, opened, str(alert.revision)),
        time=at,
        subject=alert.member_id,
        data=alert,
    )


def churn_resolved_event(resolved: ChurnAlertResolved) -> CloudEvent:
    opened = resolved.opened_at.isoformat()
    return outgoing(
        CHURN_ALERT_RESOLVED,
        source=CHURN_SOURCE,
        id_parts=("churn-alert-resolved", resolved.member_id, opened),
        time=resolved.resolved_at,
        subject=resolved.member_id,
        data=resolved,
    )
