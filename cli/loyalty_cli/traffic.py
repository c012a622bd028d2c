"""Synthetic till traffic for the `purchases` topic, modelled on a US grocery programme.

Pure: no I/O. The same plan and seed always give the same events, in event-time order.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty_kernel.events.envelope import CloudEvent, derived_event_id
from loyalty_kernel.events.purchases import (
    PURCHASE_COMPLETED,
    PURCHASE_REFUNDED,
    PurchaseCompleted,
    PurchaseRefunded,
)

CATALOGUE: tuple[tuple[str, str, Decimal], ...] = tuple(
    (sku, category, Decimal(price))
    for sku, category, price in (
        ("BANANAS-LB", "produce", "0.59"),
        ("APPLES-GALA-LB", "produce", "1.99"),
        ("ROMAINE-HEART", "produce", "2.49"),
        ("POTATOES-5LB", "produce", "4.29"),
        ("CHICKEN-BREAST-LB", "meat", "4.99"),
        ("GROUND-BEEF-LB", "meat", "5.49"),
        ("PORK-CHOPS-LB", "meat", "6.29"),
        ("TURKEY-16", "meat", "45.00"),
        ("MILK-GAL", "dairy", "3.89"),
        ("EGGS-DOZ", "dairy", "3.29"),
        ("CHEDDAR-8OZ", "dairy", "3.79"),
        ("YOGURT-32OZ", "dairy", "4.49"),
        ("SOURDOUGH-LOAF", "bakery", "4.99"),
        ("BAGELS-6", "bakery", "3.49"),
        ("APPLE-PIE", "bakery", "11.99"),
        ("PAPER-TOWELS-6", "household", "9.99"),
        ("DETERGENT-100OZ", "household", "12.49"),
        ("DISH-SOAP", "household", "2.99"),
    )
)
_BULKY_PRICE = Decimal("10")
_SMALLEST_BASKET = Decimal("3.00")
# A shopper near the end of their list does not grab a turkey: baskets end near the aim.
_OVERSHOOT = Decimal("1.2")
_OPENING_HOURS = (8 * 3600, 21 * 3600)
_STORES = 5
_REASONS = ("changed mind", "damaged", "wrong item", "expired")


@dataclass(frozen=True)
class Behaviour:
    """How one kind of member shops: days between visits and the basket they aim for."""

    name: str
    weight: int
    gap_days: tuple[int, int]
    basket: tuple[Decimal, Decimal]
    gap_growth: int = 0
    basket_shrink: Decimal = Decimal(1)

    def next_gap(self, rng: random.Random, visits: int) -> int:
        return rng.randint(*self.gap_days) + self.gap_growth * visits

    def target(self, rng: random.Random, visits: int) -> Decimal:
        low, high = (int(v * 100) for v in self.basket)
        aimed = Decimal(rng.randint(low, high)) / 100 * self.basket_shrink**visits
        return max(aimed, _SMALLEST_BASKET)


BEHAVIOURS = (
    # Two trips of 55+ at most 3 days apart: 100 within a week, the diamond line.
    Behaviour("diamond", 3, (2, 3), (Decimal("55"), Decimal("110"))),
    Behaviour("regular", 55, (7, 10), (Decimal("15"), Decimal("32"))),
    Behaviour("occasional", 27, (14, 30), (Decimal("8"), Decimal("30"))),
    # Lapsing customers come back less often and buy less each time: churn signals.
    Behaviour("lapsing", 15, (5, 8), (Decimal("25"), Decimal("45")), 4, Decimal("0.8")),
)


@dataclass
class TrafficPlan:
    """What to simulate: how many members, for how many days from `start`, with which seed."""

    members: int
    days: int
    seed: int
    start: datetime
    currency: str = "USD"
    refund_rate: float = 0.05

    def __post_init__(self) -> None:
        if self.members < 0 or self.days < 0:
            raise ValueError("members and days must not be negative")
        if self.start.tzinfo is None:
            raise ValueError("start must carry a time zone")
        if not 0 <= self.refund_rate <= 1:
            raise ValueError("refund_rate must be between 0 and 1")


@dataclass
class _Member:
    member_id: str
    store_id: str
    behaviour: Behaviour
    visits: int = 0


@dataclass
class _Simulation:
    plan: TrafficPlan
    rng: random.Random
    origin: datetime
    pending: list[tuple[datetime, int, CloudEvent]] = field(default_factory=list)
    order: Iterator[int] = field(default_factory=itertools.count)

    def push(self, event: CloudEvent) -> None:
        # The counter breaks ties so the heap never compares events and stays deterministic.
        heapq.heappush(self.pending, (event.time, next(self.order), event))

    def due_before(self, moment: datetime) -> Iterator[CloudEvent]:
        while self.pending and self.pending[0][0] < moment:
            yield heapq.heappop(self.pending)[2]


def grocery_traffic(plan: TrafficPlan) -> Iterator[CloudEvent]:
    """Yield purchases and refunds of `plan.members` members over `plan.days` days."""
    sim = _Simulation(plan, random.Random(plan.seed), plan.start.astimezone(UTC))
    schedule: defaultdict[int, list[_Member]] = defaultdict(list)
    for member in _enrol(plan.members, sim.rng):
        schedule[sim.rng.randint(0, member.behaviour.gap_days[1] - 1)].append(member)
    for day in range(plan.days):
        for member in schedule.pop(day, []):
            _visit(sim, member, day)
            schedule[day + member.behaviour.next_gap(sim.rng, member.visits)].append(member)
        yield from sim.due_before(sim.origin + timedelta(days=day + 1))


def to_json_line(event: CloudEvent) -> bytes:
    """One event as a line of a JSON-lines file."""
    return event.to_bytes() + b"\n"


def _enrol(count: int, rng: random.Random) -> list[_Member]:
    # Every behaviour appears once before the weighted draw, so small plans show them all.
    weights = [b.weight for b in BEHAVIOURS]
    kinds = list(BEHAVIOURS[:count]) + rng.choices(
        BEHAVIOURS, weights, k=max(0, count - len(BEHAVIOURS))
    )
    rng.shuffle(kinds)
    return [
        _Member(f"member-{n:05d}", f"store-{rng.randint(1, _STORES)}", kind)
        for n, kind in enumerate(kinds, start=1)
    ]


def _visit(sim: _Simulation, member: _Member, day: int) -> None:
    seconds = sim.rng.randint(*_OPENING_HOURS)
    when = sim.origin + timedelta(days=day, seconds=seconds)
    basket = _basket(sim.rng, member.behaviour.target(sim.rng, member.visits))
    member.visits += 1
    purchase = _purchase(sim, member, when, basket)
    sim.push(purchase)
    if sim.rng.random() < sim.plan.refund_rate:
        for refund in _refunds(sim, purchase):
            sim.push(refund)


def _basket(rng: random.Random, target: Decimal) -> tuple[list[dict[str, Any]], Decimal]:
    quantities: dict[tuple[str, str, Decimal], int] = {}
    total = Decimal(0)
    while total < target:
        product = rng.choice(CATALOGUE)
        quantity = 1 if product[2] >= _BULKY_PRICE else rng.randint(1, 3)
        if total and total + product[2] * quantity > target * _OVERSHOOT:
            continue
        quantities[product] = quantities.get(product, 0) + quantity
        total += product[2] * quantity
    items = [
        {"sku": sku, "category": category, "quantity": quantity, "unit_price": _money(price)}
        for (sku, category, price), quantity in quantities.items()
    ]
    return items, total


def _purchase(
    sim: _Simulation, member: _Member, when: datetime, basket: tuple[list[dict[str, Any]], Decimal]
) -> PurchaseCompleted:
    purchase_id = f"p-s{sim.plan.seed}-{member.member_id}-{member.visits}"
    items, amount = basket
    return PurchaseCompleted.model_validate(
        {
            "specversion": "1.0",
            "id": derived_event_id("traffic", purchase_id),
            "source": f"pos/{member.store_id}/till-{sim.rng.randint(1, 8)}",
            "type": PURCHASE_COMPLETED,
            "time": when,
            "subject": member.member_id,
            "data": {
                "purchase_id": purchase_id,
                "member_id": member.member_id,
                "store_id": member.store_id,
                "amount": _money(amount),
                "currency": sim.plan.currency,
                "items": items,
            },
        }
    )


def _refunds(sim: _Simulation, purchase: PurchaseCompleted) -> Iterator[PurchaseRefunded]:
    """Returns of an earlier purchase: all of it, or some units of one or two of its lines."""
    end = sim.origin + timedelta(days=sim.plan.days)
    amounts = (
        [purchase.data.amount] if sim.rng.random() < 0.3 else _returned_lines(sim.rng, purchase)
    )
    when = purchase.time
    for n, amount in enumerate(amounts, start=1):
        when += timedelta(minutes=sim.rng.randint(30, 10 * 24 * 60))
        if when >= end:
            return
        yield _refund(sim, purchase, n, amount, when)


def _returned_lines(rng: random.Random, purchase: PurchaseCompleted) -> list[Decimal]:
    # Distinct lines, each at most its own quantity: together never more than the purchase.
    lines = rng.sample(purchase.data.items or [], k=min(2, len(purchase.data.items or [])))
    if rng.random() < 0.75:
        lines = lines[:1]
    return [line.unit_price * rng.randint(1, line.quantity) for line in lines]


def _refund(
    sim: _Simulation, purchase: PurchaseCompleted, n: int, amount: Decimal, when: datetime
) -> PurchaseRefunded:
    bought = purchase.data
    refund_id = f"r{bought.purchase_id[1:]}-{n}"
    return PurchaseRefunded.model_validate(
        {
            "specversion": "1.0",
            "id": derived_event_id("traffic", refund_id),
            "source": f"pos/{bought.store_id}/service-desk",
            "type": PURCHASE_REFUNDED,
            "time": when,
            "subject": bought.member_id,
            "data": {
                "refund_id": refund_id,
                "purchase_id": bought.purchase_id,
                "member_id": bought.member_id,
                "amount": _money(amount),
                "currency": bought.currency,
                "reason": sim.rng.choice(_REASONS),
            },
        }
    )


def _money(value: Decimal) -> str:
    return format(value, "f")
