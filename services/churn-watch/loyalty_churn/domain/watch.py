"""Watching one member over event time.

A member is assessed when something happens to them (a purchase, a refund, a tier
change) and, without waiting for that, at the moments time alone can change their
signals (`signals.next_moment`) and every `rescore_days` while their risk can still
escalate. Each assessment happens at its own moment, never at whatever time a
batch or a sweep happens to run, so the alerts follow from the facts alone. A
member's clock never goes back: a fact that arrives late is added to the history
and assessed at the member's current moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loyalty_churn.domain.alerts import Assessment, Cause, ChurnAlert, alert_band
from loyalty_churn.domain.behaviour import Behaviour, MemberHistory, Refund, TierMove, Visit
from loyalty_churn.domain.risk import RiskModel
from loyalty_churn.domain.signals import next_moment, signals_of
from loyalty_churn.domain.value import value_at_risk
from loyalty_kernel.programme import ChurnSettings


@dataclass(frozen=True)
class Scorer:
    """Turns a member's history into an assessment at a moment."""

    model: RiskModel
    rules: ChurnSettings
    tier_rank: Callable[[str | None], int]

    def assess(self, history: MemberHistory, at: datetime) -> tuple[Assessment, Behaviour] | None:
        b = Behaviour.of(history, at, self.rules.period, self.tier_rank)
        if b is None:
            return None
        score = self.model.score_one(b, self.tier_rank(b.tier), self.rules.period_days)
        return self.assessment(b, score), b

    def assessment(self, b: Behaviour, score: float) -> Assessment:
        score = round(min(max(score, 0.0), 1.0), 6)
        signals = signals_of(b, self.rules)
        severity = alert_band(score, self.rules.severity, None, bool(signals))
        return Assessment(
            member_id=b.member_id,
            at=b.as_of,
            score=score,
            severity=severity,
            signals=signals,
            tier=b.tier,
            value_at_risk=value_at_risk(b, self.model.purchase_rate(b), self.rules),
            last_purchase_at=b.last_at,
        )


@dataclass
class MemberWatch:
    history: MemberHistory
    clock: datetime | None = None  # the moment of the latest assessment
    due_at: datetime | None = None  # when time alone next calls for an assessment
    alert: ChurnAlert | None = None  # the latest alert, open or resolved
    score: float | None = None
    closed: list[ChurnAlert] = field(default_factory=list)  # resolved in this batch, replaced

    @property
    def member_id(self) -> str:
        return self.history.member_id

    def catch_up(self, until: datetime, scorer: Scorer, *, inclusive: bool = True) -> None:
        """Assess at each moment that falls due up to `until`."""
        while self.due_at is not None and (
            self.due_at <= until if inclusive else self.due_at < until
        ):
            at = self.due_at
            move = self.history.first_tier_move_from(at)
            self._assess(at, scorer, Cause.TIER_CHANGE if move and move.at == at else Cause.TIME)

    def record_visit(self, visit: Visit, scorer: Scorer) -> None:
        self.catch_up(visit.at, scorer, inclusive=False)
        self.history.add_visit(visit)
        self._assess(self._moment(visit.at), scorer, Cause.PURCHASE)

    def record_refund(self, ret: Refund, scorer: Scorer) -> None:
        self.catch_up(ret.at, scorer, inclusive=False)
        self.history.add_refund(ret)
        self._assess(self._moment(ret.at), scorer, Cause.REFUND)

    def record_tier_move(self, move: TierMove) -> None:
        """A tier change is assessed when the member's partition clock passes its
        moment, not on arrival: the tier service reads purchases on its own and can be
        far ahead of this consumer (catching the member up to the change would assess
        them before purchases still to come), and it can publish a drop and a lift for
        the same instant, the member's tier then being the one after both. Assessments
        see only the moves made by their moment, so the move is kept at once."""
        self.history.add_tier_move(move)
        moment = self._moment(move.at)
        self.due_at = min(self.due_at, moment) if self.due_at else moment

    def _moment(self, at: datetime) -> datetime:
        return max(at, self.clock) if self.clock else at

    def _assess(self, at: datetime, scorer: Scorer, cause: Cause) -> None:
        """Assess at `at`: an open alert shows the member as they are now (and resolves
        once it no longer stands); with none open, a signal raises one."""
        assessed = scorer.assess(self.history, at)
        self.clock = at
        if assessed is None:
            self.due_at = None
            return
        assessment, behaviour = assessed
        self.score = assessment.score
        alert, bands = self.alert, scorer.rules.severity
        if alert is not None and alert.open:
            alert.reassess(assessment, bands, cause)
        else:
            raised = ChurnAlert.raise_for(assessment, bands, cause)
            if raised is not None:
                if self.alert is not None:
                    self.closed.append(self.alert)
                self.alert = raised
        self.due_at = self._next_due(behaviour, assessment, scorer.rules)

    def _next_due(self, b: Behaviour, a: Assessment, rules: ChurnSettings) -> datetime | None:
        due = next_moment(self.history, b, rules)
        # An alert opens only with a signal, and signals change only at the moments
        # above; an open alert's score moves with time as well: rescore it, so it shows
        # the member as they are, until the member is lost.
        alert = self.alert
        watched = alert is not None and alert.open
        if watched and b.recency_days < rules.horizon_days + rules.rescore_days:
            rescore = a.at + timedelta(days=rules.rescore_days)
            due = min(due, rescore) if due else rescore
        # A tier change already known but later than now is assessed at its moment.
        later = self.history.first_tier_move_from(a.at, inclusive=False)
        if later is not None:
            due = min(due, later.at) if due else later.at
        return due
