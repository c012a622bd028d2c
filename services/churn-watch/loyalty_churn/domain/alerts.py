"""A member's churn alert: opened with evidence, raised only as it escalates,
resolved when the member comes back."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from loyalty_churn.domain.signals import Signal, SignalCode

SEVERITIES = ("low", "medium", "high")
SIGNAL_ORDER = list(SignalCode)


def severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) + 1 if severity else 0


@dataclass(frozen=True)
class Assessment:
    """The member as scored at one moment."""

    member_id: str
    at: datetime
    score: float
    severity: str | None
    signals: list[Signal]
    tier: str | None
    value_at_risk: Decimal
    last_purchase_at: datetime


class Move(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass
class ChurnAlert:
    member_id: str
    opened_at: datetime
    severity: str
    score: float
    signals: list[Signal]
    tier: str | None
    value_at_risk: Decimal
    last_purchase_at: datetime
    updated_at: datetime
    revision: int = 1  # each escalation is a new revision
    resolved_at: datetime | None = None
    alert_id: int | None = None  # the database's, once stored
    # What happened since it was last saved, each with the alert as it stood then.
    new_moves: list[tuple[Move, ChurnAlert]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @classmethod
    def raise_for(cls, a: Assessment) -> ChurnAlert | None:
        """An alert once a signal gives evidence; its severity is the score's band."""
        if a.severity is None or not a.signals:
            return None
        alert = cls(
            a.member_id,
            a.at,
            a.severity,
            a.score,
            a.signals,
            a.tier,
            a.value_at_risk,
            a.last_purchase_at,
            a.at,
        )
        alert._moved(Move.OPENED)
        return alert

    def reassess(self, a: Assessment) -> None:
        """Escalate when the severity rises or a new signal appears; anything less
        changes nothing. The alert keeps every signal seen while it is open, each as
        last observed, so each signal is reported once per alert."""
        seen = {s.code for s in self.signals}
        fresh = [s for s in a.signals if s.code not in seen]
        rises = severity_rank(a.severity) > severity_rank(self.severity)
        if not self.open or not (rises or fresh):
            return
        latest = {s.code: s for s in [*self.signals, *a.signals]}
        self.signals = sorted(latest.values(), key=lambda s: SIGNAL_ORDER.index(s.code))
        if rises:
            assert a.severity is not None
            self.severity = a.severity
        self.score, self.tier, self.value_at_risk = a.score, a.tier, a.value_at_risk
        self.updated_at = a.at
        self.revision += 1
        self._moved(Move.ESCALATED)

    def resolve(self, at: datetime, purchase_at: datetime) -> None:
        """The member came back: a purchase after the alert opened, with no signal left."""
        if self.open:
            self.resolved_at, self.updated_at, self.last_purchase_at = at, at, purchase_at
            self._moved(Move.RESOLVED)

    def _moved(self, move: Move) -> None:
        self.new_moves.append((move, replace(self, new_moves=[])))
