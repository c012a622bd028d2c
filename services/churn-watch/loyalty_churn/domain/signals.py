"""The churn signals (docs/churn-watch.md), each with what was observed and
the threshold it crossed; and when the passing of time alone can change them."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from loyalty_churn.domain.behaviour import DAY, Behaviour, MemberHistory
from loyalty_kernel.programme import ChurnSettings


class SignalCode(StrEnum):
    LAPSED = "lapsed"
    OVERDUE = "overdue"
    DOWNWARD_MIGRATION = "downward_migration"
    SHRINKING_BASKET = "shrinking_basket"
    RISING_REFUNDS = "rising_refunds"
    TIER_DOWNGRADE = "tier_downgrade"


@dataclass(frozen=True)
class Signal:
    code: SignalCode
    observed: float
    threshold: float

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code.value, "observed": self.observed, "threshold": self.threshold}


def _number(value: Decimal | float) -> float:
    return round(float(value), 3)


def signals_of(b: Behaviour, rules: ChurnSettings) -> list[Signal]:
    """Every signal the behaviour shows, in a fixed order."""
    found: list[Signal] = []
    if b.recency_days >= rules.lapsed_days:
        found.append(Signal(SignalCode.LAPSED, _number(b.recency_days), rules.lapsed_days))
    overdue_after = overdue_days(b, rules)
    if overdue_after is not None and b.recency_days >= overdue_after:
        found.append(Signal(SignalCode.OVERDUE, _number(b.recency_days), _number(overdue_after)))
    if b.spend_before > 0:
        ratio = b.spend_recent / b.spend_before
        if ratio < rules.migration_ratio:
            found.append(
                Signal(
                    SignalCode.DOWNWARD_MIGRATION, _number(ratio), _number(rules.migration_ratio)
                )
            )
    if (
        b.basket_recent is not None
        and b.basket_before
        and b.baskets_recent >= rules.basket_min_purchases
        and b.baskets_before >= rules.basket_min_purchases
    ):
        ratio = b.basket_recent / b.basket_before
        if ratio < rules.basket_ratio:
            found.append(
                Signal(SignalCode.SHRINKING_BASKET, _number(ratio), _number(rules.basket_ratio))
            )
    share = b.refund_share_recent
    if (
        b.refunds_recent >= rules.refund_min_count
        and share >= rules.refund_share
        and share > b.refund_share_before
    ):
        found.append(Signal(SignalCode.RISING_REFUNDS, _number(share), _number(rules.refund_share)))
    if b.last_downgrade_at is not None:
        since = (b.as_of - b.last_downgrade_at) / DAY
        if since < rules.downgrade_days:
            found.append(Signal(SignalCode.TIER_DOWNGRADE, _number(since), rules.downgrade_days))
    return found


def overdue_days(b: Behaviour, rules: ChurnSettings) -> float | None:
    """Days without a purchase after which the member is overdue, by their own rhythm."""
    if b.purchases < rules.overdue_min_purchases or not b.median_gap_days:
        return None
    return float(rules.overdue_gap_multiple) * b.median_gap_days


def next_moment(history: MemberHistory, b: Behaviour, rules: ChurnSettings) -> datetime | None:
    """The first moment after `b.as_of` at which time alone can change a signal: a
    threshold of days is reached, or a purchase or refund leaves a period."""
    candidates = [b.last_at + timedelta(days=rules.lapsed_days)]
    overdue_after = overdue_days(b, rules)
    if overdue_after is not None:
        candidates.append(b.last_at + timedelta(days=overdue_after))
    for shift in (rules.period, 2 * rules.period):
        # the first purchase, and the first refund, still inside the period ending now
        for times in (history.visits, history.refunds):
            i = bisect.bisect_right(times, b.as_of - shift, key=lambda f: f.at)
            if i < len(times) and times[i].at <= b.as_of:
                candidates.append(times[i].at + shift)
    if b.last_downgrade_at is not None:
        candidates.append(b.last_downgrade_at + timedelta(days=rules.downgrade_days))
    later = [c for c in candidates if c > b.as_of]
    return min(later) if later else None
