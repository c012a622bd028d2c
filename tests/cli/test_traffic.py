from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_cli.traffic import TrafficPlan, grocery_traffic, to_json_line
from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.purchases import PURCHASE_TOPIC, PurchaseCompleted, PurchaseRefunded

START = datetime(2026, 11, 1, tzinfo=UTC)


def traffic(
    members: int = 40, days: int = 60, seed: int = 7, refund_rate: float = 0.2
) -> list[CloudEvent]:
    plan = TrafficPlan(members=members, days=days, seed=seed, start=START, refund_rate=refund_rate)
    return list(grocery_traffic(plan))


def parsed(events: list[CloudEvent]) -> list[PurchaseCompleted | PurchaseRefunded]:
    return [PURCHASE_TOPIC.validate_json(e.to_bytes()) for e in events]


def purchases_of(events: list[PurchaseCompleted | PurchaseRefunded]) -> list[PurchaseCompleted]:
    return [e for e in events if isinstance(e, PurchaseCompleted)]


def assert_refunds_within_purchases(events: list[PurchaseCompleted | PurchaseRefunded]) -> None:
    bought: dict[str, PurchaseCompleted] = {}
    left: dict[str, Decimal] = {}
    for event in events:
        if isinstance(event, PurchaseCompleted):
            bought[event.data.purchase_id] = event
            left[event.data.purchase_id] = event.data.amount
            continue
        purchase = bought[event.data.purchase_id]
        assert event.time > purchase.time
        assert event.data.member_id == purchase.data.member_id
        assert event.data.amount <= left[event.data.purchase_id]
        left[event.data.purchase_id] -= event.data.amount


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    first = [to_json_line(e) for e in traffic(seed=3)]

    assert first == [to_json_line(e) for e in traffic(seed=3)]
    assert first != [to_json_line(e) for e in traffic(seed=4)]


def test_every_event_fits_the_purchases_contract() -> None:
    events = traffic()
    kinds = {type(e) for e in parsed(events)}

    assert kinds == {PurchaseCompleted, PurchaseRefunded}
    for event in parsed(events):
        assert event.subject == event.data.member_id
        assert event.data.currency == "USD"
        assert event.time.tzinfo is not None
    assert len({e.id for e in events}) == len(events)


def test_the_currency_comes_from_the_plan() -> None:
    plan = TrafficPlan(members=5, days=10, seed=1, start=START, currency="CAD")

    assert {e.data.currency for e in parsed(list(grocery_traffic(plan)))} == {"CAD"}


def test_items_add_up_to_the_amount_of_each_purchase() -> None:
    for purchase in purchases_of(parsed(traffic())):
        items = purchase.data.items or []
        assert items
        assert sum(i.unit_price * i.quantity for i in items) == purchase.data.amount
        assert 0 < purchase.data.amount <= Decimal("1000000")
        assert purchase.data.amount == purchase.data.amount.quantize(Decimal("0.01"))


def test_refunds_follow_their_purchase_and_never_exceed_what_is_left() -> None:
    events = parsed(traffic(refund_rate=0.5))

    assert_refunds_within_purchases(events)
    assert len({e.data.refund_id for e in events if isinstance(e, PurchaseRefunded)}) > 1


def test_event_times_never_go_back_and_stay_in_the_simulated_days() -> None:
    times = [e.time for e in traffic(days=30)]

    assert times == sorted(times)
    assert times[0] >= START
    assert times[-1] < START + timedelta(days=30)


@settings(max_examples=60, deadline=None, database=None)
@given(
    members=st.integers(0, 6),
    days=st.integers(0, 40),
    seed=st.integers(-(2**31), 2**31),
    refund_rate=st.floats(0, 1),
)
def test_refund_invariant_holds_for_any_small_plan(
    members: int, days: int, seed: int, refund_rate: float
) -> None:
    events = parsed(traffic(members, days, seed, refund_rate))

    assert_refunds_within_purchases(events)
    assert [e.time for e in events] == sorted(e.time for e in events)


def test_some_members_spend_100_within_a_week_and_most_do_not() -> None:
    spends: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for purchase in purchases_of(parsed(traffic(members=60, days=28, refund_rate=0))):
        spends[purchase.data.member_id].append((purchase.time, purchase.data.amount))

    diamonds = {m for m, visits in spends.items() if best_week(visits) >= 100}

    assert diamonds
    assert len(diamonds) < len(spends) / 2


def test_some_members_lapse_coming_back_less_often_and_buying_less() -> None:
    visits: dict[str, list[PurchaseCompleted]] = defaultdict(list)
    for purchase in purchases_of(parsed(traffic(members=40, days=90, refund_rate=0))):
        visits[purchase.data.member_id].append(purchase)

    assert any(lapsing(history) for history in visits.values())


def test_a_plan_needs_a_zoned_start_and_a_sane_refund_rate() -> None:
    with pytest.raises(ValueError, match="time zone"):
        TrafficPlan(members=1, days=1, seed=1, start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="refund_rate"):
        TrafficPlan(members=1, days=1, seed=1, start=START, refund_rate=1.5)


def best_week(visits: list[tuple[datetime, Decimal]]) -> Decimal:
    return max(
        sum(
            (amount for when, amount in visits if end - timedelta(days=7) < when <= end), Decimal(0)
        )
        for end, _ in visits
    )


def lapsing(history: list[PurchaseCompleted]) -> bool:
    if len(history) < 4:
        return False
    gaps = [later.time - earlier.time for earlier, later in pairwise(history)]
    return gaps[-1] > 2 * gaps[0] and history[-1].data.amount < history[0].data.amount / 2
