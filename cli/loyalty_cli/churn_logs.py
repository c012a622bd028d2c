"""Synthetic purchase logs whose churn is known, to develop and try the churn watch on.

Members differ the way retail customers do: each buys at a rate of their own (from
weekly to a few times a year) with baskets of their own size, and leaves in one of
two ways: after some purchase, with a small chance of their own (the BG/NBD story),
or at a random moment of their life (the Pareto/NBD story). Many who leave first
fade the way section 7 of the design says real customers do: visits thin out,
baskets shrink, returns pile up. Some come back later. The log never says who left:
a backtest has to find out from the purchases alone.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty_shared.events import PURCHASE_COMPLETED, PURCHASE_REFUNDED, CloudEvent

CENT = Decimal("0.01")
FADE = timedelta(days=90)  # how long before leaving a fading member starts to fade


@dataclass
class _Shopper:
    member_id: str
    mean_gap_days: float
    basket: float
    leaves_at: datetime | None  # the moment of leaving (Pareto/NBD-like members)
    drops_after: int | None  # leaves after this many purchases (BG/NBD-like members)
    fades: bool
    comes_back: bool


def _money(value: float) -> Decimal:
    return max(Decimal(str(value)), Decimal("1")).quantize(CENT)


def _shopper(rng: random.Random, n: int, start: datetime, days: int) -> tuple[_Shopper, datetime]:
    joins = start + timedelta(days=rng.uniform(0, days * 0.6))
    mean_gap = min(max(rng.gammavariate(1.2, 25.0), 2.0), 200.0)
    basket = rng.gammavariate(3.0, 15.0)
    dropper = rng.random() < 0.5
    lifetime = None if dropper else timedelta(days=rng.expovariate(1 / 420))
    shopper = _Shopper(
        member_id=f"m-{n:06d}",
        mean_gap_days=mean_gap,
        basket=basket,
        leaves_at=joins + lifetime if lifetime is not None else None,
        drops_after=_geometric(rng, rng.betavariate(1.0, 9.0)) if dropper else None,
        fades=rng.random() < 0.6,
        comes_back=rng.random() < 0.1,
    )
    return shopper, joins


def _geometric(rng: random.Random, chance: float) -> int:
    """Purchases made before leaving, with `chance` of leaving after each."""
    count = 1
    while rng.random() >= chance and count < 10_000:
        count += 1
    return count


def synthetic_churn_log(
    members: int, start: datetime, days: int, seed: int
) -> Iterator[CloudEvent]:
    """The log's purchase and refund events, in time order."""
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    queue: list[tuple[datetime, int, CloudEvent]] = []
    counter = 0
    for n in range(members):
        shopper, joins = _shopper(rng, n, start, days)
        for event in _life(rng, shopper, joins, end):
            heapq.heappush(queue, (event.time, counter, event))
            counter += 1
    while queue:
        yield heapq.heappop(queue)[2]


def _life(rng: random.Random, s: _Shopper, at: datetime, end: datetime) -> Iterator[CloudEvent]:
    k = 0
    while at < end:
        if s.drops_after is not None and k >= s.drops_after:
            s.leaves_at, s.drops_after = at, None
        if s.leaves_at is not None and at >= s.leaves_at:
            if not s.comes_back:
                return
            # back after a long absence, for a second life
            s.comes_back = False
            at = s.leaves_at + timedelta(days=rng.uniform(200, 400))
            s.leaves_at = at + timedelta(days=rng.expovariate(1 / 300))
            continue
        fading = s.fades and (
            (s.leaves_at is not None and at >= s.leaves_at - FADE)
            or (s.drops_after is not None and k >= s.drops_after - 3)
        )
        amount = _money(rng.gammavariate(4.0, s.basket / 4.0) * (0.45 if fading else 1.0))
        purchase_id = f"{s.member_id}-p{k}"
        yield _event(PURCHASE_COMPLETED, f"e-{purchase_id}", s.member_id, at, {
            "purchase_id": purchase_id, "member_id": s.member_id,
            "store_id": f"store-{rng.randrange(1, 9)}", "amount": str(amount), "currency": "USD",
        })  # fmt: skip
        if rng.random() < (0.5 if fading else 0.03):
            returned = (amount * Decimal(str(rng.uniform(0.3, 1.0)))).quantize(CENT)
            refund_at = at + timedelta(days=rng.uniform(0.5, 10))
            if returned > 0 and refund_at < end:
                yield _event(PURCHASE_REFUNDED, f"e-{purchase_id}-r", s.member_id, refund_at, {
                    "refund_id": f"{purchase_id}-r", "purchase_id": purchase_id,
                    "member_id": s.member_id, "amount": str(returned), "currency": "USD",
                })  # fmt: skip
        k += 1
        gap = rng.expovariate(1 / s.mean_gap_days) * (2.2 if fading else 1.0)
        at += timedelta(days=max(gap, 0.05))


def _event(kind: str, event_id: str, member: str, at: datetime, data: dict[str, str]) -> CloudEvent:
    return CloudEvent(
        specversion="1.0",
        id=event_id,
        source="pos/synthetic",
        type=kind,
        time=at,
        subject=member,
        data=data,
    )
