"""The churn watch's events on `churn.alerts`: an alert as it opens or escalates, and
its resolution when the member comes back."""

from __future__ import annotations

from loyalty_churn.domain.alerts import ChurnAlert, Move
from loyalty_kernel.events.churn import (
    ChurnAlerted,
    ChurnAlertResolved,
    SignalSeen,
    churn_alert_event,
    churn_resolved_event,
)
from loyalty_kernel.events.envelope import CloudEvent


def alert_event(alert: ChurnAlert, move: Move) -> CloudEvent:
    """The event for one move of an alert, as the alert stood then."""
    if move is Move.RESOLVED:
        return churn_resolved_event(
            ChurnAlertResolved(
                member_id=alert.member_id,
                opened_at=alert.opened_at,
                resolved_at=alert.updated_at,
                severity=alert.severity,
                last_purchase_at=alert.last_purchase_at,
            )
        )
    alerted = ChurnAlerted(
        member_id=alert.member_id,
        severity=alert.severity,
        risk_score=alert.score,
        signals=[
            SignalSeen(code=s.code.value, observed=s.observed, threshold=s.threshold)
            for s in alert.signals
        ],
        tier=alert.tier,
        value_at_risk=alert.value_at_risk,
        last_purchase_at=alert.last_purchase_at,
        opened_at=alert.opened_at,
        revision=alert.revision,
        status=move.value,
    )
    return churn_alert_event(alerted, alert.updated_at)
