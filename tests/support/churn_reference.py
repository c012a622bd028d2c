"""Constructed members through the churn watch's domain alone: what the service
must publish for the same facts; and a reference computation of what an alert must
show after every assessment, to hold the watch's alerts against."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from loyalty_churn.domain.alerts import AlertRevision, Assessment, Cause, ChurnAlert, Move
from loyalty_churn.domain.behaviour import Behaviour, MemberHistory, Refund, TierMove, Visit
from loyalty_churn.domain.risk import prior_model
from loyalty_churn.domain.watch import MemberWatch, Scorer
from loyalty_kernel.programme import ChurnSettings, Programme, SeverityBands

RULES = ChurnSettings()
LEVELS = [level.name for level in Programme().tiers.levels]
SCORER = Scorer(prior_model(RULES), RULES, lambda t: LEVELS.index(t) if t in LEVELS else 0)

Fact = Visit | Refund | TierMove


@dataclass(frozen=True)
class Published:
    move: Move
    at: datetime
    severity: str
    codes: tuple[str, ...]
    opened_at: datetime


def feed(
    watch: MemberWatch, facts: Iterable[Fact], scorer: Scorer, drain: Callable[[], None]
) -> None:
    for fact in sorted(facts, key=lambda f: f.at):
        if isinstance(fact, Visit):
            watch.record_visit(fact, scorer)
        elif isinstance(fact, Refund):
            watch.record_refund(fact, scorer)
        else:
            watch.record_tier_move(fact)
        drain()


def watch_through(
    member: str, facts: Iterable[Fact], until: datetime, scorer: Scorer = SCORER
) -> list[Published]:
    """Feed the facts in time order, let time run to `until`; every alert event."""
    watch = MemberWatch(MemberHistory(member))
    published: list[Published] = []

    def drain() -> None:
        for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]:
            published.extend(published_moves(alert))
            alert.new_revisions = []
        watch.closed = []

    feed(watch, facts, scorer, drain)
    watch.catch_up(until, scorer)
    drain()
    return published


def published_moves(alert: ChurnAlert) -> list[Published]:
    return [
        Published(r.move, r.at, r.severity, tuple(s.code for s in r.signals), r.opened_at)
        for r in alert.new_revisions
    ]


# --- the reference ---------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What an alert shows: the fields an ops person reads."""

    open: bool
    severity: str
    score: float
    signals: tuple[tuple[str, float], ...]  # code, observed
    tier: str | None
    value_at_risk: Decimal
    last_purchase_at: datetime
    revision: int
    opened_at: datetime


@dataclass(frozen=True)
class Expected:
    """A revision the reference expects to be published."""

    move: str
    at: datetime
    revision: int
    severity: str
    severity_from: str | None
    severity_to: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    cause: str


@dataclass(frozen=True)
class RecordingScorer(Scorer):
    """The scorer, noting every assessment it made."""

    made: list[Assessment | None] = field(default_factory=list)

    def assess(self, history: MemberHistory, at: datetime) -> tuple[Assessment, Behaviour] | None:
        result = super().assess(history, at)
        self.made.append(result[0] if result else None)
        return result


@dataclass(frozen=True)
class ScriptedScorer(RecordingScorer):
    """The scorer with the risk score taken from a script of the moment (signals, tier
    and value still read from the history): to put a score exactly where a rule turns."""

    script: Callable[[datetime], float] = lambda at: 0.0

    def assess(self, history: MemberHistory, at: datetime) -> tuple[Assessment, Behaviour] | None:
        b = Behaviour.of(history, at, self.rules.period, self.tier_rank)
        if b is None:
            self.made.append(None)
            return None
        assessment = self.assessment(b, self.script(at))
        self.made.append(assessment)
        return assessment, b


class ObservedWatch(MemberWatch):
    """A watch noting, after every assessment, why it was made and what the alert shows."""

    def __init__(self, history: MemberHistory) -> None:
        super().__init__(history)
        self.seen: list[tuple[Cause, Shown | None]] = []
        self.revisions: list[Expected] = []

    def _assess(self, at: datetime, scorer: Scorer, cause: Cause) -> None:
        super()._assess(at, scorer, cause)
        for alert in [*self.closed, *([self.alert] if self.alert else [])]:
            self.revisions.extend(_published(r) for r in alert.new_revisions)
            alert.new_revisions = []
        self.closed = []
        self.seen.append((cause, shown(self.alert)))


def _published(r: AlertRevision) -> Expected:
    change = r.change
    return Expected(
        r.move.value,
        r.at,
        r.revision,
        r.severity,
        change.severity_from,
        change.severity_to,
        change.signals_added,
        change.signals_removed,
        change.cause.value,
    )


def shown(alert: ChurnAlert | None) -> Shown | None:
    if alert is None:
        return None
    return Shown(
        alert.open,
        alert.severity,
        alert.score,
        tuple((s.code.value, s.observed) for s in alert.signals),
        alert.tier,
        alert.value_at_risk,
        alert.last_purchase_at,
        alert.revision,
        alert.opened_at,
    )


RANK = {None: 0, "low": 1, "medium": 2, "high": 3}


def reference_band(score: float, held: str | None, signalled: bool, b: SeverityBands) -> str | None:
    """The documented rule, spelled out: the band whose bound the score reaches; the
    band an alert holds is kept down to `hysteresis` below its bound; a signal with no
    band is low."""
    bounds = {"high": b.high, "medium": b.medium, "low": b.low}
    plain = next((name for name, bound in bounds.items() if score >= bound), None)
    if held is not None and RANK[plain] < RANK[held] and score >= bounds[held] - b.hysteresis:
        return held
    return plain or ("low" if signalled else None)


@dataclass
class Reference:
    """Walks the assessments a watch made and says what its alert must show after each,
    and which revisions it must publish."""

    bands: SeverityBands
    state: Shown | None = None
    expected: list[Expected] = field(default_factory=list)

    def step(self, a: Assessment | None, cause: Cause) -> Shown | None:
        if a is None:
            return self.state
        codes = tuple(s.code.value for s in a.signals)
        current = self.state if self.state is not None and self.state.open else None
        if current is None:
            band = reference_band(a.score, None, bool(codes), self.bands)
            if codes and band is not None:
                self.state = self._show(a, True, band, 1, a.at)
                self._expect("opened", a, 1, band, (None, band), codes, (), cause)
            return self.state
        before = tuple(c for c, _ in current.signals)
        added = tuple(c for c in codes if c not in before)
        removed = tuple(c for c in before if c not in codes)
        band = reference_band(a.score, current.severity, bool(codes), self.bands)
        held, revision = current.severity, current.revision
        if band is None:
            revision += 1
            self.state = self._show(a, False, held, revision, current.opened_at)
            self._expect("resolved", a, revision, held, (held, None), (), removed, cause)
            return self.state
        if band != held or added or removed:
            revision += 1
            rise = RANK[band] - RANK[held]
            move = "escalated" if rise > 0 or (rise == 0 and added) else "de_escalated"
            self._expect(move, a, revision, band, (held, band), added, removed, cause)
        self.state = self._show(a, True, band, revision, current.opened_at)
        return self.state

    def _show(
        self, a: Assessment, is_open: bool, severity: str, revision: int, opened: datetime
    ) -> Shown:
        return Shown(
            is_open,
            severity,
            a.score,
            tuple((s.code.value, s.observed) for s in a.signals),
            a.tier,
            a.value_at_risk,
            a.last_purchase_at,
            revision,
            opened,
        )

    def _expect(
        self,
        move: str,
        a: Assessment,
        revision: int,
        severity: str,
        bands: tuple[str | None, str | None],
        added: tuple[str, ...],
        removed: tuple[str, ...],
        cause: Cause,
    ) -> None:
        self.expected.append(
            Expected(move, a.at, revision, severity, *bands, added, removed, cause.value)
        )


@dataclass
class Checked:
    """A member watched through, and held against the reference at every assessment."""

    watch: ObservedWatch
    assessments: list[Assessment | None]
    reference: Reference


def check_against_reference(
    member: str,
    facts: Iterable[Fact],
    until: datetime,
    rules: ChurnSettings = RULES,
    script: Callable[[datetime], float] | None = None,
) -> Checked:
    """Feed the facts, let time run to `until`; after every assessment the watch's alert
    must show what the reference says, and the revisions must be the reference's. With
    a `script`, the risk score is the script's."""
    scorer: RecordingScorer = (
        ScriptedScorer(SCORER.model, rules, SCORER.tier_rank, script=script)
        if script
        else RecordingScorer(SCORER.model, rules, SCORER.tier_rank)
    )
    watch = ObservedWatch(MemberHistory(member))
    feed(watch, facts, scorer, lambda: None)
    watch.catch_up(until, scorer)
    assert len(scorer.made) == len(watch.seen)
    reference = Reference(rules.severity)
    for n, (made, (cause, seen)) in enumerate(zip(scorer.made, watch.seen, strict=True)):
        want = reference.step(made, cause)
        at = made.at if made else None
        assert seen == want, f"{member}: assessment {n} at {at} ({cause.value})"
    assert watch.revisions == reference.expected, member
    return Checked(watch, scorer.made, reference)
