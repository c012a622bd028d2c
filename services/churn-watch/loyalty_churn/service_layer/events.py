"""The churn watch's events on `churn.alerts`: each revision of an alert (opened,
escalated, de-escalated), and its resolution."""

from __future__ import annotations

from loyalty_churn.domain.alerts import AlertRevision, Change, Move
from loyalty_kernel.events.churn import (
    AlertChanges,
    ChurnAlerted,
    ChurnAlertResolved,
    SignalSeen,
    churn_alert_event,
    churn_resolved_event,
)
from loyalty_kernel.events.envelope import CloudEvent


def changes_of(change: Change) -> AlertChanges:
    return AlertChanges(
        severity_from=change.severity_from,
        severity_to=change.severity_to,
        signals_added=list(change.signals_added),
        signals_removed=list(change.signals_removed),
        cause=change.cause.value,
        reason=change.reason(),
    )


def alert_event(r: AlertRevision) -> CloudEvent:
    """The event for one revision, as the alert stood then."""
    if r.move is Move.RESOLVED:
        return churn_resolved_event(
            ChurnAlertResolved(
                member_id=r.member_id,
                opened_at=r.opened_at,
                resolved_at=r.at,
                severity=r.severity,
                risk_score=r.score,
                last_purchase_at=r.last_purchase_at,
                revision=r.revision,
                changes=changes_of(r.change),
            )
        )
    alerted = ChurnAlerted(
        member_id=r.member_id,
        severity=r.severity,
        risk_score=r.score,
        signals=[
            SignalSeen(code=s.code.value, observed=s.observed, threshold=s.threshold)
            for s in r.signals
        ],
        tier=r.tier,
        value_at_risk=r.value_at_risk,
        last_purchase_at=r.last_purchase_at,
        opened_at=r.opened_at,
        revision=r.revision,
        status=r.move.value,
        changes=changes_of(r.change),
    )
    return churn_alert_event(alerted, r.at)
