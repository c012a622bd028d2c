"""A member's standing through purchases, refunds and holds running out, checked by
hand at the boundaries and against the plain reference model on random histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.rules import RefundExceedsPurchase
from loyalty_kernel.programme import Programme, TierLevel, TierPolicy, TierSettings
from loyalty_tiers.domain.outlook import outlook
from loyalty_tiers.domain.standing import Cause, Direction, TierStanding
from tests.support.programme import ReferencePurchase, tier_as_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = TierPolicy(Programme().tiers)


def member() -> TierStanding:
    return TierStanding.new("m-1", POLICY.lowest, T0, "USD")


def buy(s: TierStanding, pid: str, amount: str, at: datetime) -> bool:
    cmd = RecordPurchase(pid, s.member_id, "store-1", Decimal(amount), "USD", at, f"e-{pid}")
    return s.record_purchase(cmd, POLICY)


def give_back(s: TierStanding, rid: str, pid: str, amount: str, at: datetime) -> bool:
    cmd = RecordRefund(rid, pid, s.member_id, Decimal(amount), "USD", at, f"e-{rid}")
    return s.record_refund(cmd, POLICY)


def moves(s: TierStanding) -> list[tuple[str, str, datetime, Cause]]:
    return [(c.from_tier, c.to_tier, c.effective_at, c.cause) for c in s.new_changes]


def test_an_upgrade_takes_effect_at_the_purchase():
    s = member()
    buy(s, "p1", "60", T0)
    buy(s, "p2", "40", T0 + 2 * DAY)
    assert moves(s) == [
        ("opal", "ruby", T0, Cause.PURCHASE),
        ("ruby", "diamond", T0 + 2 * DAY, Cause.PURCHASE),
    ]
    assert s.new_changes[-1].direction is Direction.UP
    assert s.new_changes[-1].qualifying_spend == Decimal(100)
    assert [c.sequence for c in s.new_changes] == [1, 2]


def test_holds_run_out_one_tier_at_a_time_at_their_own_moment():
    s = member()
    buy(s, "p1", "50", T0)
    buy(s, "p2", "50", T0 + DAY)
    assert s.drops_at == T0 + 35 * DAY
    s.settle(T0 + 35 * DAY - timedelta(microseconds=1), POLICY)
    assert s.tier == "diamond"
    s.settle(T0 + 100 * DAY, POLICY)
    assert moves(s)[-2:] == [
        ("diamond", "ruby", T0 + 35 * DAY, Cause.HOLD_EXPIRED),
        ("ruby", "opal", T0 + 36 * DAY, Cause.HOLD_EXPIRED),
    ]
    assert s.drops_at is None


def test_a_purchase_at_the_moment_the_hold_runs_out_keeps_the_tier():
    s = member()
    buy(s, "p1", "100", T0)
    buy(s, "p2", "100", T0 + 35 * DAY)
    assert moves(s) == [("opal", "diamond", T0, Cause.PURCHASE)]
    assert s.drops_at == T0 + 70 * DAY


def test_a_refund_that_removes_the_qualification_downgrades_at_the_refund():
    s = member()
    buy(s, "p1", "100", T0)
    give_back(s, "r1", "p1", "100", T0 + DAY)
    assert moves(s)[-1] == ("diamond", "opal", T0 + DAY, Cause.REFUND)
    assert s.drops_at is None


def test_redeliveries_change_nothing_and_broken_rules_raise():
    s = member()
    assert buy(s, "p1", "100", T0)
    assert not buy(s, "p1", "100", T0)
    assert give_back(s, "r1", "p1", "30", T0 + DAY)
    assert not give_back(s, "r1", "p1", "30", T0 + DAY)
    with pytest.raises(RefundExceedsPurchase):
        give_back(s, "r2", "p1", "70.01", T0 + DAY)
    assert len(s.new_purchases) == 1
    assert len(s.new_refunds) == 1


def test_a_late_purchase_is_judged_at_the_members_clock_never_in_the_past():
    s = member()
    buy(s, "p1", "10", T0 + 10 * DAY)
    buy(s, "p0", "100", T0 - 30 * DAY)  # arrives late: its hold ran out at T0 + 5 days
    assert s.tier == "opal"
    assert s.new_changes == []
    buy(s, "p2", "100", T0 + 2 * DAY)  # late, but its hold reaches the clock
    assert moves(s) == [("opal", "diamond", T0 + 10 * DAY, Cause.PURCHASE)]
    assert s.drops_at == T0 + 37 * DAY


def test_the_outlook_says_what_reaches_and_what_keeps_a_tier():
    s = member()
    buy(s, "p1", "60", T0)
    view = outlook(s, POLICY, T0 + 2 * DAY)
    assert view.tier.name == "ruby"
    assert view.window_spend == Decimal(60)
    assert view.next_tier is not None
    assert view.next_tier.name == "diamond"
    assert view.spend_to_next == Decimal(40)
    assert view.drops_at == T0 + 35 * DAY
    assert view.drops_to is not None
    assert view.drops_to.name == "opal"
    later = outlook(s, POLICY, T0 + 10 * DAY)  # out of the window, still held
    assert later.tier.name == "ruby"
    assert later.spend_to_keep == Decimal(50)


# Random histories in time order: purchases and refunds of them, hours apart.
steps = st.lists(
    st.tuples(
        st.integers(0, 9 * 24),  # hours after the previous event
        st.integers(1, 9000),  # cents
        st.integers(0, 3),  # 0: a refund of an earlier purchase, else a purchase
        st.integers(1, 100),  # refund share in percent
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(steps, st.integers(0, 60 * 24))
def test_every_change_matches_the_reference_tier_at_its_moment(history, tail_hours):
    s = member()
    reference: dict[str, ReferencePurchase] = {}
    at = T0
    for n, (gap, cents, kind, share) in enumerate(history):
        at += timedelta(hours=gap)
        if kind == 0 and reference:
            pid = sorted(reference)[n % len(reference)]
            left = reference[pid].amount - sum((a for _, a in reference[pid].refunds), Decimal(0))
            amount = (left * share / 100).quantize(Decimal("0.01"))
            if amount > 0:
                give_back(s, f"r{n}", pid, str(amount), at)
                reference[pid].refunds.append((at, amount))
            continue
        amount = Decimal(cents) / 100
        buy(s, f"p{n:02}", str(amount), at)
        reference[f"p{n:02}"] = ReferencePurchase(at, amount)
    end = at + timedelta(hours=tail_hours)
    s.settle(end, POLICY)
    purchases = list(reference.values())

    def known_at(moment: datetime) -> list[ReferencePurchase]:
        return [ReferencePurchase(p.at, p.amount, [r for r in p.refunds if r[0] <= moment])
                for p in purchases]  # fmt: skip

    assert s.tier == tier_as_of(known_at(end), end)
    previous = "opal"
    for change, following in zip(s.new_changes, [*s.new_changes[1:], None], strict=False):
        assert change.from_tier == previous
        previous = change.to_tier
        if following is not None and following.effective_at == change.effective_at:
            continue  # two events at one instant: the tier at that instant is the last
        assert change.to_tier == tier_as_of(known_at(change.effective_at), change.effective_at)
    # No change is missing: between changes the reference tier stays put at every event.
    times = sorted({p.at for p in purchases} | {r[0] for p in purchases for r in p.refunds})
    for moment in [*times, end]:
        held = [c.to_tier for c in s.new_changes if c.effective_at <= moment]
        assert (held[-1] if held else "opal") == tier_as_of(known_at(moment), moment)


def test_a_hold_running_out_at_a_purchase_that_does_not_requalify_is_the_cause():
    s = member()
    buy(s, "p1", "100", T0)
    buy(s, "p2", "10", T0 + 35 * DAY)
    assert moves(s)[-1] == ("diamond", "opal", T0 + 35 * DAY, Cause.HOLD_EXPIRED)


def test_a_twelve_month_programme_needs_only_other_settings():
    yearly = TierPolicy(
        TierSettings(
            window_days=365,
            hold_days=90,
            levels=(
                TierLevel(name="member", threshold=Decimal(0), multiplier=Decimal(1)),
                TierLevel(name="gold", threshold=Decimal(1000), multiplier=Decimal(2)),
            ),
        )
    )
    s = TierStanding.new("m-1", yearly.lowest, T0, "USD")
    for month in range(10):
        cmd = RecordPurchase(
            f"p{month}", "m-1", "s", Decimal(100), "USD", T0 + month * 30 * DAY, f"e{month}"
        )
        s.record_purchase(cmd, yearly)
    assert (s.tier, s.since) == ("gold", T0 + 270 * DAY)
    # The first purchase leaves the year's window at T0 + 365 days; gold holds 90 more.
    assert s.drops_at == T0 + 455 * DAY
