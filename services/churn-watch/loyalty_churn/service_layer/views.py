"""What ops read: a member's risk as of a date, everyone's ranked, the open alerts,
and the churn rates of a period."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from loyalty_churn.adapters.alerts import signals_from_json
from loyalty_churn.adapters.orm import AlertRevisionRow, AlertRow
from loyalty_churn.domain.alerts import Assessment, Cause, Change
from loyalty_churn.domain.behaviour import Behaviour, MemberHistory
from loyalty_churn.domain.watch import Scorer
from loyalty_churn.service_layer.events import changes_of
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork


@dataclass(frozen=True)
class ScoredMember:
    assessment: Assessment
    behaviour: Behaviour


async def member_risk(
    uow: Callable[[], ChurnUnitOfWork], member_id: str, as_of: datetime, scorer: Scorer
) -> ScoredMember | None:
    async with uow() as u:
        history = (await u.watch.histories([member_id]))[member_id]
    assessed = scorer.assess(history, as_of)
    return ScoredMember(*assessed) if assessed else None


def score_everyone(
    histories: Sequence[MemberHistory], as_of: datetime, scorer: Scorer
) -> list[ScoredMember]:
    """Every member with a purchase by `as_of`, riskiest first (then the most valuable)."""
    rules = scorer.rules
    behaviours = [
        b for h in histories if (b := Behaviour.of(h, as_of, rules.period, scorer.tier_rank))
    ]
    ranks = [scorer.tier_rank(b.tier) for b in behaviours]
    scores = scorer.model.scores(behaviours, ranks, rules.period_days)
    scored = [
        ScoredMember(scorer.assessment(b, float(s)), b)
        for b, s in zip(behaviours, scores, strict=True)
    ]
    # Equal risk: the more valuable member first.
    scored.sort(
        key=lambda m: (-m.assessment.score, -m.assessment.value_at_risk, m.assessment.member_id)
    )
    return scored


async def ranked_risk(
    uow: Callable[[], ChurnUnitOfWork], as_of: datetime, scorer: Scorer
) -> list[ScoredMember]:
    async with uow() as u:
        histories = list((await u.watch.histories()).values())
    return await asyncio.to_thread(score_everyone, histories, as_of, scorer)


@dataclass
class Rankings:
    """The last few rankings, so paging through one costs one scoring. A ranking is
    reused only while nothing new was consumed and the model is the same."""

    size: int = 2
    _kept: dict[tuple[datetime, int | None, int], list[ScoredMember]] = field(default_factory=dict)

    async def ranked(
        self,
        uow: Callable[[], ChurnUnitOfWork],
        as_of: datetime,
        scorer: Scorer,
        model_version: int | None,
    ) -> list[ScoredMember]:
        async with uow() as u:
            applied = await u.watch.applied()
        key = (as_of, model_version, applied)
        if key not in self._kept:
            ranking = await ranked_risk(uow, as_of, scorer)
            while len(self._kept) >= self.size:
                self._kept.pop(next(iter(self._kept)))
            self._kept[key] = ranking
        return self._kept[key]


@dataclass(frozen=True)
class AlertFilter:
    status: str = "open"  # open | resolved | all
    severity: str | None = None
    tier: str | None = None
    signal: str | None = None
    limit: int = 100
    offset: int = 0


async def alerts(uow: Callable[[], ChurnUnitOfWork], f: AlertFilter) -> list[dict[str, Any]]:
    """Alerts as they stand now, the most valuable first."""
    query = select(AlertRow)
    if f.status == "open":
        query = query.where(AlertRow.resolved_at.is_(None))
    elif f.status == "resolved":
        query = query.where(AlertRow.resolved_at.is_not(None))
    if f.severity:
        query = query.where(AlertRow.severity == f.severity)
    if f.tier:
        query = query.where(AlertRow.tier == f.tier)
    if f.signal:
        query = query.where(AlertRow.signals.contains([{"code": f.signal}]))
    query = query.order_by(AlertRow.value_at_risk.desc(), AlertRow.alert_id)
    async with uow() as u:
        rows = (await u.session.scalars(query.limit(f.limit).offset(f.offset))).all()
        return [_alert(r) for r in rows]


async def alert(uow: Callable[[], ChurnUnitOfWork], alert_id: int) -> dict[str, Any] | None:
    """One alert as it stands, with every revision, the first first."""
    async with uow() as u:
        row = await u.session.get(AlertRow, alert_id)
        if row is None:
            return None
        revisions = await u.session.scalars(
            select(AlertRevisionRow)
            .where(AlertRevisionRow.alert_id == alert_id)
            .order_by(AlertRevisionRow.revision)
        )
        return {**_alert(row), "history": [_revision(r) for r in revisions]}


def _alert(r: AlertRow) -> dict[str, Any]:
    return {
        "alert_id": r.alert_id,
        "member_id": r.member_id,
        "status": "open" if r.resolved_at is None else "resolved",
        "severity": r.severity,
        "risk_score": r.score,
        "signals": [s.as_dict() for s in signals_from_json(r.signals)],
        "tier": r.tier,
        "value_at_risk": r.value_at_risk,
        "last_purchase_at": r.last_purchase_at,
        "opened_at": r.opened_at,
        "updated_at": r.updated_at,
        "revised_at": r.revised_at or r.updated_at,
        "revision": r.revision,
        "resolved_at": r.resolved_at,
    }


def _revision(r: AlertRevisionRow) -> dict[str, Any]:
    change = Change(
        r.severity_from,
        r.severity_to,
        tuple(r.signals_added),
        tuple(r.signals_removed),
        Cause(r.cause),
    )
    return {
        "revision": r.revision,
        "move": r.move,
        "at": r.at,
        "severity": r.severity,
        "risk_score": r.score,
        "signals": [s.as_dict() for s in signals_from_json(r.signals)],
        "tier": r.tier,
        "value_at_risk": r.value_at_risk,
        "last_purchase_at": r.last_purchase_at,
        "changes": changes_of(change).model_dump(),  # as the event said it
    }


@dataclass(frozen=True)
class TierRetention:
    tier: str
    customers: int
    lost: int

    @property
    def retention(self) -> float | None:
        return round(1 - self.lost / self.customers, 4) if self.customers else None


@dataclass(frozen=True)
class ChurnSummary:
    start: datetime
    end: datetime
    complete: bool  # False while the data does not reach the period's end yet
    customers: int
    lost: int
    revenue: Decimal  # the customers' spend in the horizon before the period
    lost_revenue: Decimal
    by_tier: list[TierRetention]

    @property
    def absolute_churn_rate(self) -> float | None:
        return round(self.lost / self.customers, 4) if self.customers else None

    @property
    def relative_churn_rate(self) -> float | None:
        return round(float(self.lost_revenue / self.revenue), 4) if self.revenue else None


def lost_within(history: MemberHistory, start: datetime, end: datetime, horizon: timedelta) -> bool:
    """Whether a customer at `start` went `horizon` without a purchase by `end`."""
    before = history.last_visit_before(start + timedelta(microseconds=1))
    if before is None:
        return False
    times = [before.at] + [v.at for v in history.visits if start < v.at < end]
    gaps = zip(times, [*times[1:], end], strict=True)
    return any(later - earlier >= horizon for earlier, later in gaps)


def summarise(
    histories: Sequence[MemberHistory],
    start: datetime,
    end: datetime,
    horizon: timedelta,
    lowest_tier: str,
    data_until: datetime | None,
) -> ChurnSummary:
    """Section 7's churn rates over [start, end): customers are members who bought in
    the horizon before `start`; a customer is lost once a horizon passes without a
    purchase. The relative rate weighs each by their spend in that horizon."""
    customers = lost = 0
    revenue = lost_revenue = Decimal(0)
    per_tier: dict[str, list[int]] = {}
    for h in histories:
        spend = sum((v.amount for v in h.visits if start - horizon < v.at <= start), Decimal(0))
        if not any(start - horizon < v.at <= start for v in h.visits):
            continue
        moves = [m for m in h.tier_moves if m.at <= start]
        tier = moves[-1].to_tier if moves else lowest_tier
        gone = lost_within(h, start, end, horizon)
        customers += 1
        revenue += spend
        counts = per_tier.setdefault(tier, [0, 0])
        counts[0] += 1
        if gone:
            lost += 1
            lost_revenue += spend
            counts[1] += 1
    return ChurnSummary(
        start=start,
        end=end,
        complete=data_until is not None and data_until >= end,
        customers=customers,
        lost=lost,
        revenue=revenue,
        lost_revenue=lost_revenue,
        by_tier=[TierRetention(t, c[0], c[1]) for t, c in sorted(per_tier.items())],
    )


async def churn_summary(
    uow: Callable[[], ChurnUnitOfWork],
    start: datetime,
    end: datetime,
    horizon: timedelta,
    lowest_tier: str,
) -> ChurnSummary:
    async with uow() as u:
        histories = list((await u.watch.histories()).values())
    data_until = max((h.visits[-1].at for h in histories if h.visits), default=None)
    return await asyncio.to_thread(
        summarise, histories, start, end, horizon, lowest_tier, data_until
    )
