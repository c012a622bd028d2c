"""Constructed members through the watch: each signal fires at its moment, the alert
shows the member as assessed now, moves both ways, and resolves when it no longer
stands; at every assessment the alert equals the reference computation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty_churn.domain.alerts import Move
from loyalty_churn.domain.behaviour import MemberHistory, Refund, TierMove, Visit
from loyalty_churn.domain.watch import MemberWatch
from tests.support.churn_reference import (
    SCORER,
    Published,
    published_moves,
    watch_through,
)

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def first_with(events: list[Published], code: str) -> datetime:
    return next(e.at for e in events if code in e.codes)


def assert_revisions_change_something(events: list[Published]) -> None:
    """Each alert opens once, and every later event changes its band or its signals."""
    by_alert: dict[datetime, list[Published]] = {}
    for e in events:
        by_alert.setdefault(e.opened_at, []).append(e)
    for alert_events in by_alert.values():
        assert alert_events[0].move is Move.OPENED
        assert [e.move for e in alert_events[1:]].count(Move.OPENED) == 0
        for before, after in itertools.pairwise(alert_events):
            if after.move is not Move.RESOLVED:
                assert (after.severity, after.codes) != (before.severity, before.codes)
        assert [e.move for e in alert_events[:-1]].count(Move.RESOLVED) == 0


def weekly(member: str, amount: str, weeks: range, start: datetime = START) -> list[Visit]:
    return [Visit(f"{member}-p{w}", start + w * WEEK, Decimal(amount)) for w in weeks]


def test_a_lapsing_member_is_overdue_at_twice_their_gap_then_lapsed_at_180_days() -> None:
    visits = weekly("lapser", "40.00", range(52))
    last = visits[-1].at
    events = watch_through("lapser", visits, last + timedelta(days=400))
    assert first_with(events, "overdue") == last + 2 * WEEK
    assert first_with(events, "lapsed") == last + timedelta(days=180)
    assert events[0].move is Move.OPENED
    assert events[0].at == last + 2 * WEEK
    assert Move.RESOLVED not in [e.move for e in events]
    assert events[-1].severity == "high"
    assert_revisions_change_something(events)


def spend_ratio(visits: list[Visit], at: datetime) -> Decimal | None:
    """Reference: spend in the last 90 days over the 90 days before."""
    period = timedelta(days=90)
    recent = sum((v.amount for v in visits if at - period < v.at <= at), Decimal(0))
    before = sum((v.amount for v in visits if at - 2 * period < v.at <= at - period), Decimal(0))
    return recent / before if before else None


def test_a_member_whose_spend_halves_shows_downward_migration_when_the_ratio_drops() -> None:
    visits = weekly("halver", "50.00", range(26)) + weekly("halver", "15.00", range(26, 52))
    # The ratio only moves at a purchase or when one leaves a period: check those.
    moments = sorted(
        {v.at + shift for v in visits for shift in (timedelta(0), timedelta(90), timedelta(180))}
    )
    expected = next(t for t in moments if (r := spend_ratio(visits, t)) is not None and r < 0.5)
    events = watch_through("halver", visits, visits[-1].at)
    assert first_with(events, "downward_migration") == expected
    assert first_with(events, "shrinking_basket") <= expected
    assert_revisions_change_something(events)


def test_a_member_whose_gaps_lengthen_is_overdue_and_resolved_each_time_they_return() -> None:
    visits = weekly("drifter", "30.00", range(10))
    at = visits[-1].at
    for n, gap_days in enumerate((20, 45)):
        at += timedelta(days=gap_days)
        visits.append(Visit(f"drifter-late{n}", at, Decimal("30.00")))
    events = watch_through("drifter", visits, at)
    opened = [e for e in events if e.move is Move.OPENED]
    resolved = [e for e in events if e.move is Move.RESOLVED]
    # median gap 7 days: overdue at 14 days, back at 20; then median still 7: overdue
    # 14 days after the return, back at 45
    assert [e.at for e in opened] == [visits[9].at + 2 * WEEK, visits[10].at + 2 * WEEK]
    assert all("overdue" in e.codes for e in opened)
    assert [e.at for e in resolved] == [visits[10].at, visits[11].at]
    assert_revisions_change_something(events)


def test_a_refund_spree_shows_rising_refunds_at_the_refund_that_crosses_the_share() -> None:
    visits = weekly("returner", "60.00", range(30))
    spree_start = visits[-1].at + timedelta(days=1)
    returns = [
        Refund(
            f"r{i}", visits[-1 - i].purchase_id, spree_start + timedelta(days=i), Decimal("60.00")
        )
        for i in range(5)
    ]
    events = watch_through("returner", [*visits, *returns], spree_start + timedelta(days=6))
    # 13 purchases of 60 in the last 90 days: 4 refunds of 60 are the first over 25%
    assert first_with(events, "rising_refunds") == returns[3].at
    assert_revisions_change_something(events)


def test_a_downgrade_raises_an_alert_at_the_tier_change() -> None:
    visits = weekly("faller", "25.00", range(20))
    down = TierMove(3, visits[-1].at + timedelta(days=3), "ruby", "pearl", down=True)
    events = watch_through("faller", [*visits, down], down.at + timedelta(days=5))
    assert events[0].move is Move.OPENED
    assert events[0].at == down.at
    assert events[0].codes == ("tier_downgrade",)


def test_a_lapsed_member_who_comes_back_resolves_the_alert_at_the_purchase() -> None:
    visits = weekly("returnee", "35.00", range(40))
    back = Visit("returnee-back", visits[-1].at + timedelta(days=200), Decimal("35.00"))
    events = watch_through("returnee", [*visits, back], back.at + timedelta(days=1))
    assert first_with(events, "lapsed") == visits[-1].at + timedelta(days=180)
    assert events[-1].move is Move.RESOLVED
    assert events[-1].at == back.at
    assert [e.move for e in events].count(Move.OPENED) == 1


def test_a_regular_shopper_raises_nothing() -> None:
    visits = weekly("regular", "45.00", range(80))
    assert watch_through("regular", visits, visits[-1].at + timedelta(days=3)) == []


@pytest.mark.parametrize("cut", [5, 17, 33])
def test_time_passing_in_any_steps_gives_the_same_events(cut: int) -> None:
    """Catching up in one step or in many gives the same alerts at the same moments."""
    visits = weekly("stepper", "40.00", range(cut))
    end = visits[-1].at + timedelta(days=250)
    whole = watch_through("stepper", visits, end)
    watch = MemberWatch(MemberHistory("stepper"))
    stepped: list[Published] = []
    for v in visits:
        watch.record_visit(v, SCORER)
    moment = visits[-1].at
    while moment < end:
        moment = min(moment + timedelta(days=cut), end)
        watch.catch_up(moment, SCORER)
    for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]:
        stepped.extend(published_moves(alert))
    assert stepped == whole


def test_a_hold_running_out_at_the_moment_of_a_lifting_purchase_is_no_downgrade() -> None:
    visits = weekly("lifted", "25.00", range(20))
    at = visits[-1].at
    moves = [
        TierMove(1, at - 5 * WEEK, "opal", "ruby", down=False),
        TierMove(2, at, "ruby", "opal", down=True),  # the hold ran out ...
        TierMove(3, at, "opal", "diamond", down=False),  # ... as the purchase lifted them
    ]
    events = watch_through("lifted", [*visits, *moves], at + timedelta(days=5))
    assert all("tier_downgrade" not in e.codes for e in events)
    still_lower = [*moves[:2], TierMove(3, at, "opal", "pearl", down=False)]
    events = watch_through(
        "lowered", [*weekly("lowered", "25.00", range(20)), *still_lower], at + timedelta(days=5)
    )
    assert events[0].codes == ("tier_downgrade",)
