"""The churn watch's published events (`churn.alerts`, DESIGN.md section 3)."""

from __future__ import annotations

from loyalty_churn.domain.alerts import ChurnAlert, Move
from loyalty_shared.events import CloudEvent, derived_event_id, money_text

SOURCE = "loyalty/churn-watch"
ALERT = "loyalty.churn.alert.v1"
ALERT_RESOLVED = "loyalty.churn.alert_resolved.v1"


def alert_event(alert: ChurnAlert, move: Move) -> CloudEvent:
    """The event for one move of an alert. Its id follows from the member, the moment
    the alert opened and the revision, so a replay publishes the same ids."""
    opened = alert.opened_at.isoformat()
    if move is Move.RESOLVED:
        return CloudEvent(
            specversion="1.0",
            id=derived_event_id("churn-alert-resolved", alert.member_id, opened),
            source=SOURCE,
            type=ALERT_RESOLVED,
            time=alert.updated_at,
            subject=alert.member_id,
            data={
                "member_id": alert.member_id,
                "opened_at": alert.opened_at,
                "resolved_at": alert.updated_at,
                "severity": alert.severity,
                "last_purchase_at": alert.last_purchase_at,
            },
        )
    return CloudEvent(
        specversion="1.0",
        id=derived_event_id("churn-alert", alert.member_id, opened, str(alert.revision)),
        source=SOURCE,
        type=ALERT,
        time=alert.updated_at,
        subject=alert.member_id,
        data={
            "member_id": alert.member_id,
            "severity": alert.severity,
            "risk_score": alert.score,
            "signals": [s.as_dict() for s in alert.signals],
            "tier": alert.tier,
            "value_at_risk": money_text(alert.value_at_risk),
            "last_purchase_at": alert.last_purchase_at,
            "opened_at": alert.opened_at,
            "revision": alert.revision,
            "status": move.value,
        },
    )
