"""A member's churn alert: the member as assessed now, and the revisions that brought it
there.

An alert opens when an assessment shows a signal. From then on every assessment
refreshes it (score, signals standing, their observed values, tier, last purchase,
value at risk), so an open alert always says what is true at its latest assessment.
A *revision* is recorded, and published, only when the severity band or the set of
signals changes:

- escalated: the band rises, or it holds and a signal appears;
- de-escalated: the band falls, or it holds and signals only clear;
- resolved: no signal stands and the score is below the lowest band.

The band of an open alert has a hysteresis (`SeverityBands.hysteresis`): it holds
until the score falls that far below its bound, so a score wobbling across a bound
moves the alert once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from loyalty_churn.domain.signals import Signal, SignalCode
from loyalty_kernel.programme import SeverityBands

SEVERITIES = ("low", "medium", "high")
SIGNAL_ORDER = list(SignalCode)


def severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) + 1 if severity else 0


def severity_of(score: float, bands: SeverityBands) -> str | None:
    """The band a score falls in, with no alert to hold one."""
    for severity in reversed(SEVERITIES):
        if score >= bands.bound(severity):
            return severity
    return None


def alert_band(score: float, bands: SeverityBands, held: str | None, signalled: bool) -> str | None:
    """The severity of an alert holding `held` (None: none yet) at `score`; None when
    no signal stands (`signalled`) and the score is below every band it may hold."""
    band = severity_of(score, bands)
    holds = held is not None and score >= bands.bound(held) - bands.hysteresis
    if holds and severity_rank(band) < severity_rank(held):
        band = held
    if band is None and signalled:
        band = "low"  # a signal is evidence enough for the lowest band
    return band


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
    DE_ESCALATED = "de_escalated"
    RESOLVED = "resolved"


class Cause(StrEnum):
    """What the assessment behind a revision was made for."""

    PURCHASE = "purchase"
    REFUND = "refund"
    TIER_CHANGE = "tier_change"
    TIME = "time"  # time passed: a threshold of days, a period rolling on, a rescore


@dataclass(frozen=True)
class Change:
    """What a revision changed, and what caused it."""

    severity_from: str | None
    severity_to: str | None
    signals_added: tuple[str, ...]
    signals_removed: tuple[str, ...]
    cause: Cause

    def reason(self) -> str:
        """The change in a sentence, for people: "medium to high; lapsed appeared, as
        time passed"."""
        parts = []
        if self.severity_from is None:
            parts.append(f"opened {self.severity_to}")
        elif self.severity_to is None:
            parts.append("resolved: no signal stands and the score is below every band")
        elif self.severity_from != self.severity_to:
            parts.append(f"{self.severity_from} to {self.severity_to}")
        if self.signals_added:
            parts.append(f"{', '.join(self.signals_added)} appeared")
        if self.signals_removed:
            parts.append(f"{', '.join(self.signals_removed)} cleared")
        return f"{'; '.join(parts)}, {_CAUSES[self.cause]}"


_CAUSES = {
    Cause.PURCHASE: "at a purchase",
    Cause.REFUND: "at a refund",
    Cause.TIER_CHANGE: "at a tier change",
    Cause.TIME: "as time passed",
}


@dataclass(frozen=True)
class AlertRevision:
    """One revision of an alert: the alert as it stood then, and what changed."""

    member_id: str
    opened_at: datetime
    revision: int
    move: Move
    at: datetime
    severity: str  # as held then; at resolution, the last held
    score: float
    signals: tuple[Signal, ...]
    tier: str | None
    value_at_risk: Decimal
    last_purchase_at: datetime
    change: Change


def _codes(signals: list[Signal]) -> list[str]:
    return [s.code.value for s in signals]


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
    updated_at: datetime  # the latest assessment
    revision: int = 1
    revised_at: datetime | None = None  # the latest revision; None: at opening
    resolved_at: datetime | None = None
    alert_id: int | None = None  # the database's, once stored
    # Since it was last saved: the revisions made, and whether anything changed at all.
    new_revisions: list[AlertRevision] = field(default_factory=list)
    refreshed: bool = False

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @classmethod
    def raise_for(cls, a: Assessment, bands: SeverityBands, cause: Cause) -> ChurnAlert | None:
        """An alert once a signal gives evidence; its severity is the score's band."""
        severity = alert_band(a.score, bands, None, bool(a.signals))
        if severity is None or not a.signals:
            return None
        alert = cls(
            a.member_id,
            a.at,
            severity,
            a.score,
            list(a.signals),
            a.tier,
            a.value_at_risk,
            a.last_purchase_at,
            a.at,
        )
        alert._revised(Move.OPENED, Change(None, severity, tuple(_codes(a.signals)), (), cause))
        return alert

    def reassess(self, a: Assessment, bands: SeverityBands, cause: Cause) -> None:
        """Show the member as assessed now; revise when the band or the signals change,
        resolve when the alert no longer stands."""
        if not self.open:
            return
        before, now = _codes(self.signals), _codes(a.signals)
        severity = alert_band(a.score, bands, self.severity, bool(a.signals))
        self.score, self.signals, self.tier = a.score, list(a.signals), a.tier
        self.value_at_risk, self.last_purchase_at = a.value_at_risk, a.last_purchase_at
        self.updated_at, self.refreshed = a.at, True
        added = tuple(c for c in now if c not in before)
        removed = tuple(c for c in before if c not in now)
        change = Change(self.severity, severity, added, removed, cause)
        if severity is None:
            self.resolved_at = a.at
            self._revised(Move.RESOLVED, change)
            return
        rise = severity_rank(severity) - severity_rank(self.severity)
        if rise == 0 and not (added or removed):
            return
        self.severity = severity
        escalated = rise > 0 or (rise == 0 and bool(added))
        self._revised(Move.ESCALATED if escalated else Move.DE_ESCALATED, change)

    def _revised(self, move: Move, change: Change) -> None:
        if move is not Move.OPENED:
            self.revision += 1
        self.revised_at, self.refreshed = self.updated_at, True
        self.new_revisions.append(
            AlertRevision(
                self.member_id,
                self.opened_at,
                self.revision,
                move,
                self.updated_at,
                self.severity,
                self.score,
                tuple(self.signals),
                self.tier,
                self.value_at_risk,
                self.last_purchase_at,
                change,
            )
        )
