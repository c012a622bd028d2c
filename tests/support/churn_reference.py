"""Constructed members through the churn watch's domain alone: what the service
must publish for the same facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from loyalty_churn.domain.alerts import ChurnAlert, Move
from loyalty_churn.domain.behaviour import MemberHistory, Refund, TierMove, Visit
from loyalty_churn.domain.risk import prior_model
from loyalty_churn.domain.watch import MemberWatch, Scorer
from loyalty_kernel.programme import ChurnSettings, Programme

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


def watch_through(member: str, facts: Iterable[Fact], until: datetime) -> list[Published]:
    """Feed the facts in time order, let time run to `until`; every alert event."""
    watch = MemberWatch(MemberHistory(member))
    published: list[Published] = []

    def drain() -> None:
        for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]:
            published.extend(published_moves(alert))
            alert.new_moves = []
        watch.closed = []

    for fact in sorted(facts, key=lambda f: f.at):
        if isinstance(fact, Visit):
            watch.record_visit(fact, SCORER)
        elif isinstance(fact, Refund):
            watch.record_refund(fact, SCORER)
        else:
            watch.record_tier_move(fact, SCORER)
        drain()
    watch.catch_up(until, SCORER)
    drain()
    return published


def published_moves(alert: ChurnAlert) -> list[Published]:
    return [
        Published(move, a.updated_at, a.severity, tuple(s.code for s in a.signals), a.opened_at)
        for move, a in alert.new_moves
    ]
