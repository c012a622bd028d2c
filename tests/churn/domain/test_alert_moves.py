"""Alerts that say what is true now: at every assessment the watch's alert equals the
reference computation (tests/support/churn_reference.py), it moves both ways, resolves
the moment it no longer stands, and a score wobbling across a bound moves it once."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_churn.domain.alerts import Cause, Change
from loyalty_churn.domain.behaviour import Refund, TierMove, Visit
from loyalty_kernel.programme import ChurnSettings, SeverityBands
from tests.support.churn_reference import (
    RULES,
    Checked,
    Fact,
    check_against_reference,
    reference_band,
)

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
DAY, WEEK = timedelta(days=1), timedelta(days=7)


def weekly(member: str, amount: str, weeks: range, start: datetime = START) -> list[Visit]:
    return [Visit(f"{member}-p{w}", start + w * WEEK, Decimal(amount)) for w in weeks]


def _lapser() -> tuple[list[Fact], datetime]:
    visits = weekly("lapser", "40.00", range(52))
    return list(visits), visits[-1].at + timedelta(days=400)


def _halver() -> tuple[list[Fact], datetime]:
    visits = weekly("halver", "50.00", range(26)) + weekly("halver", "15.00", range(26, 52))
    return list(visits), visits[-1].at


def _drifter() -> tuple[list[Fact], datetime]:
    visits = weekly("drifter", "30.00", range(10))
    at = visits[-1].at
    for n, gap_days in enumerate((20, 45)):
        at += timedelta(days=gap_days)
        visits.append(Visit(f"drifter-late{n}", at, Decimal("30.00")))
    return list(visits), at


def _returner() -> tuple[list[Fact], datetime]:
    visits = weekly("returner", "60.00", range(30))
    spree = visits[-1].at + DAY
    refunds = [
        Refund(f"r{i}", visits[-1 - i].purchase_id, spree + i * DAY, Decimal("60.00"))
        for i in range(5)
    ]
    return [*visits, *refunds], spree + 6 * DAY


def _faller() -> tuple[list[Fact], datetime]:
    visits = weekly("faller", "25.00", range(20))
    down = TierMove(3, visits[-1].at + 3 * DAY, "ruby", "pearl", down=True)
    return [*visits, down], down.at + 5 * DAY


def _returnee() -> tuple[list[Fact], datetime]:
    visits = weekly("returnee", "35.00", range(40))
    back = Visit("returnee-back", visits[-1].at + timedelta(days=200), Decimal("35.00"))
    return [*visits, back], back.at + DAY


CONSTRUCTED = {
    "lapser": _lapser,
    "halver": _halver,
    "drifter": _drifter,
    "returner": _returner,
    "faller": _faller,
    "returnee": _returnee,
}


@pytest.mark.parametrize("member", sorted(CONSTRUCTED))
def test_every_constructed_member_equals_the_reference_at_every_assessment(member: str) -> None:
    facts, until = CONSTRUCTED[member]()
    checked = check_against_reference(member, facts, until)
    assert checked.watch.revisions  # each of them raises something


def test_a_downgrade_that_ages_out_resolves_the_alert_without_a_purchase() -> None:
    # Buys every week (never overdue); downgraded half a day before a purchase.
    visits = weekly("aged", "25.00", range(40))
    down = TierMove(2, visits[20].at - timedelta(hours=12), "ruby", "pearl", down=True)
    checked = check_against_reference("aged", [*visits, down], visits[-1].at)
    moves = [(r.move, r.at, r.cause) for r in checked.watch.revisions]
    aged_out = down.at + timedelta(days=RULES.downgrade_days)
    assert moves == [("opened", down.at, "tier_change"), ("resolved", aged_out, "time")]
    assert aged_out not in {v.at for v in visits}
    assert checked.watch.alert is not None
    assert checked.watch.alert.resolved_at == aged_out


def _wobble(at: datetime) -> float:
    """Just under, then just over, the medium bound (0.7), a week each."""
    return 0.72 if ((at - START) // WEEK) % 2 else 0.68


def test_a_score_wobbling_across_a_bound_moves_the_alert_once() -> None:
    # Opened on a downgrade; the score crosses 0.7 at every weekly purchase.
    visits = weekly("wobbler", "30.00", range(30))
    down = TierMove(1, visits[8].at + DAY, "ruby", "pearl", down=True)
    facts, until = [*visits, down], visits[-1].at
    checked = check_against_reference("wobbler", facts, until, script=_wobble)
    moves = [(r.move, r.severity, r.added, r.removed) for r in checked.watch.revisions]
    assert moves == [
        ("opened", "low", ("tier_downgrade",), ()),  # 0.68 that week
        ("escalated", "medium", (), ()),  # 0.72 at the next purchase, and kept since
        ("de_escalated", "medium", (), ("tier_downgrade",)),  # the signal aged out
    ]
    # Without the hysteresis the same member would move at nearly every purchase.
    bare = RULES.model_copy(update={"severity": SeverityBands(hysteresis=0)})
    jumpy = check_against_reference("wobbler", facts, until, rules=bare, script=_wobble)
    assert len(jumpy.watch.revisions) >= 15


def test_an_overdue_alert_resolves_at_the_first_purchase_back_and_stays_quiet_through_a_month_of_daily_buying() -> (
    None
):
    visits = weekly("daily", "30.00", range(20))
    back = visits[-1].at + timedelta(days=30)
    daily = [Visit(f"daily-d{i}", back + i * DAY, Decimal("30.00")) for i in range(30)]
    checked = check_against_reference("daily", [*visits, *daily], daily[-1].at)
    moves = [(r.move, r.at, r.added, r.removed, r.cause) for r in checked.watch.revisions]
    overdue_at = visits[-1].at + 2 * WEEK
    assert moves == [
        ("opened", overdue_at, ("overdue",), (), "time"),
        ("resolved", back, (), ("overdue",), "purchase"),
    ]


# --- the invariant, over histories -------------------------------------------------


def _assert_true_now(checked: Checked, visits: list[Visit], bands: SeverityBands) -> None:
    """Whenever the alert is open, its severity is the band of its current score (the
    band it held kept down to the hysteresis), it shows the signals standing now, and
    its last purchase is the member's."""
    times = sorted(v.at for v in visits)
    before = None
    for made, (_, shown) in zip(checked.assessments, checked.watch.seen, strict=True):
        if made is not None and shown is not None and shown.open:
            same = before is not None and before.open and before.opened_at == shown.opened_at
            held = before.severity if same and before is not None else None
            assert shown.severity == reference_band(shown.score, held, bool(shown.signals), bands)
            assert shown.score == made.score
            assert shown.signals == tuple((s.code.value, s.observed) for s in made.signals)
            assert shown.last_purchase_at == times[bisect.bisect_right(times, made.at) - 1]
        before = shown


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Fact], datetime, list[float]]:
    gaps = draw(st.lists(st.integers(1, 150), min_size=3, max_size=30))
    amounts = draw(st.lists(st.integers(1, 300), min_size=len(gaps), max_size=len(gaps)))
    visits, at = [], START
    for n, (gap, amount) in enumerate(zip(gaps, amounts, strict=True)):
        at += timedelta(days=gap, hours=n % 5)
        visits.append(Visit(f"h-p{n}", at, Decimal(amount)))
    facts: list[Fact] = list(visits)
    for n, (i, later) in enumerate(
        draw(st.lists(st.tuples(st.integers(0, len(visits) - 1), st.integers(1, 20)), max_size=4))
    ):
        v = visits[i]
        facts.append(Refund(f"h-r{n}", v.purchase_id, v.at + timedelta(days=later), v.amount))
    for n, day in enumerate(draw(st.lists(st.integers(0, sum(gaps)), max_size=3))):
        facts.append(TierMove(n + 1, START + timedelta(days=day, minutes=7), "ruby", "pearl", True))
    scores = draw(st.lists(st.floats(0, 1), min_size=1, max_size=12))
    return facts, at + timedelta(days=draw(st.integers(0, 300))), scores


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_an_open_alert_always_holds_the_band_of_its_current_score(
    history: tuple[list[Fact], datetime, list[float]],
) -> None:
    facts, until, scores = history
    visits = [f for f in facts if isinstance(f, Visit)]
    checked = check_against_reference("h", facts, until)
    _assert_true_now(checked, visits, RULES.severity)
    # The same with the score anywhere in 0..1, so every band and bound is crossed.
    script = lambda at: scores[int((at - START) / (11 * DAY)) % len(scores)]  # noqa: E731
    scripted = check_against_reference("h", facts, until, script=script)
    _assert_true_now(scripted, visits, RULES.severity)


def test_hysteresis_must_be_narrower_than_every_band() -> None:
    with pytest.raises(ValueError, match="narrower than every band"):
        SeverityBands(low=0.5, medium=0.53, high=0.9, hysteresis=0.05)
    assert ChurnSettings(severity=SeverityBands(hysteresis=0)).severity.hysteresis == 0


def test_each_change_reads_as_a_sentence() -> None:
    opened = Change(None, "low", ("overdue",), (), Cause.TIME)
    assert opened.reason() == "opened low; overdue appeared, as time passed"
    moved = Change("medium", "high", ("lapsed",), ("shrinking_basket",), Cause.PURCHASE)
    assert (
        moved.reason() == "medium to high; lapsed appeared; shrinking_basket cleared, at a purchase"
    )
    gone = Change("low", None, (), ("tier_downgrade",), Cause.TIER_CHANGE)
    assert gone.reason().startswith("resolved: no signal stands")
    assert gone.reason().endswith("tier_downgrade cleared, at a tier change")
