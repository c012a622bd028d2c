"""Synthetic purchase logs whose churn is known, for developing and testing churn
scoring (never for tuning a model to one data set).

Members differ the way retail customers do: each buys at a rate of their own, gamma
distributed from about weekly to a few times a year, with baskets of their own size.
Half leave right after some purchase, with a chance of their own each time (the BG/NBD
story), half at an exponential moment of their life (the Pareto/NBD story). Many show
before they leave what real leavers show: baskets shrinking, visits thinning out,
returns piling up over their last months. Some leave, stay quiet for months and come
back. Nothing in the log says who left: scoring has to find out from the purchases.

Pure: no I/O but `write_jsonl`. The same arguments always give the same events, in time
order.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from loyalty_cli.traffic import to_json_line
from loyalty_kernel.events.envelope import CloudEvent, derived_event_id
from loyalty_kernel.events.money import money_text
from loyalty_kernel.events.purchases import PURCHASE_COMPLETED, PURCHASE_REFUNDED, PURCHASE_TOPIC

# Members fade over their last few visits, or their last months if they visit often.
FADE_VISITS = 4
FADE_DAYS = 120.0
QUIET_DAYS = (150.0, 400.0)  # how long those who come back stay away
SIGNS = ("smaller baskets", "longer gaps", "more returns")
_STORES = 8


@dataclass(slots=True)
class _Member:
    number: int
    store: int
    rate: float  # purchases a day while they stay
    basket: float  # mean spend a visit
    leaves_after: int | None  # leaves right after this many purchases...
    leaves_on: float | None  # ...or on this day
    signs: frozenset[str]  # what shows before they leave
    comes_back: bool
    purchases: int = 0

    @property
    def member_id(self) -> str:
        return f"m-{self.number:06d}"

    def gone(self, day: float) -> bool:
        if self.leaves_after is not None:
            return self.purchases >= self.leaves_after
        return self.leaves_on is not None and day >= self.leaves_on

    def fading(self, day: float) -> float:
        """0 while the member shows nothing, rising to 1 as they leave."""
        if self.leaves_after is not None:  # counting the purchase being made
            done = (self.purchases - self.leaves_after + FADE_VISITS) / FADE_VISITS
        elif self.leaves_on is not None:
            window = max(FADE_DAYS, FADE_VISITS / self.rate)
            done = (day - self.leaves_on + window) / window
        else:
            done = 0.0
        return min(max(done, 0.0), 1.0)

    def shows(self, sign: str, day: float) -> float:
        return self.fading(day) if sign in self.signs else 0.0


def _enrol(rng: random.Random, number: int, joins: float) -> _Member:
    drops_after_purchase = rng.random() < 0.5
    return _Member(
        number=number,
        store=rng.randint(1, _STORES),
        rate=min(max(rng.gammavariate(1.5, 1 / 30), 1 / 180), 1 / 3),
        basket=rng.gammavariate(3.0, 15.0),
        leaves_after=_geometric(rng, rng.betavariate(1.0, 9.0)) if drops_after_purchase else None,
        leaves_on=None if drops_after_purchase else joins + rng.expovariate(1 / 420),
        signs=_signs(rng),
        comes_back=rng.random() < 0.1,
    )


def _geometric(rng: random.Random, chance: float) -> int:
    """Purchases made up to and including the one after which the member leaves."""
    if chance >= 1:
        return 1
    return 1 + int(math.log(1.0 - rng.random()) / math.log1p(-max(chance, 1e-9)))


def _signs(rng: random.Random) -> frozenset[str]:
    """What a member shows before leaving: most show one sign or more, the rest none."""
    if rng.random() >= 0.6:
        return frozenset()
    shown = frozenset(s for s in SIGNS if rng.random() < 0.75)
    return shown or frozenset({rng.choice(SIGNS)})


@dataclass
class _Log:
    rng: random.Random
    seed: int
    origin: datetime
    days: int
    # Ties on the day are broken by the order pushed, so events are never compared.
    queue: list[tuple[float, int, _Member | CloudEvent]]
    order: Iterator[int]

    def push(self, day: float, item: _Member | CloudEvent) -> None:
        if day < self.days:
            heapq.heappush(self.queue, (day, next(self.order), item))

    def at(self, day: float) -> datetime:
        return self.origin + timedelta(seconds=round(day * 86_400))


def synthetic_churn_log(
    members: int, start: datetime, days: int, seed: int
) -> Iterator[CloudEvent]:
    """Purchase and refund events of `members` members over `days` days from `start`."""
    if start.tzinfo is None:
        raise ValueError("start must carry a time zone")
    rng = random.Random(seed)
    log = _Log(rng, seed, start.astimezone(UTC), days, [], itertools.count())
    for number in range(1, members + 1):
        joins = rng.uniform(0, days * 0.6)
        log.push(joins, _enrol(rng, number, joins))
    while log.queue:
        day, _, item = heapq.heappop(log.queue)
        if isinstance(item, CloudEvent):
            yield item
        elif not item.gone(day):
            yield _visit(log, item, day)
        elif item.comes_back:
            _come_back(log, item, day)


def _visit(log: _Log, member: _Member, day: float) -> CloudEvent:
    rng = log.rng
    member.purchases += 1
    spend = rng.gammavariate(4.0, member.basket / 4)
    spend *= 1 - 0.6 * member.shows("smaller baskets", day)
    amount = max(Decimal(f"{spend:.2f}"), Decimal("1.00"))
    purchase = _purchase(log, member, day, amount)
    if rng.random() < 0.03 + 0.45 * member.shows("more returns", day):
        # a single refund a purchase, so returns never add up to more than was bought
        when = day + rng.uniform(0.5, 10.0)
        back = (amount * Decimal(f"{rng.uniform(0.3, 1.0):.4f}")).quantize(Decimal("0.01"))
        log.push(when, _refund(log, member, when, purchase, back))
    gap = rng.expovariate(member.rate) * (1 + 2 * member.shows("longer gaps", day))
    log.push(day + max(gap, 0.05), member)
    return purchase


def _come_back(log: _Log, member: _Member, day: float) -> None:
    """A second life after months away, ending at a moment of its own."""
    member.comes_back = False
    back = day + log.rng.uniform(*QUIET_DAYS)
    member.leaves_after = None
    member.leaves_on = back + log.rng.expovariate(1 / 300)
    log.push(back, member)


def _purchase(log: _Log, member: _Member, day: float, amount: Decimal) -> CloudEvent:
    # A member mostly shops at their own store, now and then at another.
    store = member.store if log.rng.random() < 0.9 else log.rng.randint(1, _STORES)
    purchase_id = f"p-s{log.seed}-{member.number:06d}-{member.purchases}"
    return _checked(
        {
            "specversion": "1.0",
            "id": derived_event_id("churn-log", purchase_id),
            "source": f"pos/store-{store}/till-{log.rng.randint(1, 6)}",
            "type": PURCHASE_COMPLETED,
            "time": log.at(day),
            "subject": member.member_id,
            "data": {
                "purchase_id": purchase_id,
                "member_id": member.member_id,
                "store_id": f"store-{store}",
                "amount": money_text(amount),
                "currency": "USD",
            },
        }
    )


def _refund(
    log: _Log, member: _Member, day: float, purchase: CloudEvent, amount: Decimal
) -> CloudEvent:
    bought = purchase.data
    refund_id = "r" + bought["purchase_id"][1:]
    return _checked(
        {
            "specversion": "1.0",
            "id": derived_event_id("churn-log", refund_id),
            "source": f"pos/{bought['store_id']}/service-desk",
            "type": PURCHASE_REFUNDED,
            "time": log.at(day),
            "subject": member.member_id,
            "data": {
                "refund_id": refund_id,
                "purchase_id": bought["purchase_id"],
                "member_id": member.member_id,
                "amount": money_text(amount),
                "currency": "USD",
                "reason": log.rng.choice(("changed mind", "damaged", "wrong item")),
            },
        }
    )


def _checked(envelope: dict[str, object]) -> CloudEvent:
    # Held to the purchase topic's contract, but handed out as the plain envelope whose
    # data is the JSON payload, which is how the log's readers take it.
    PURCHASE_TOPIC.validate_python(envelope)
    return CloudEvent.model_validate(envelope)


def write_jsonl(events: Iterable[CloudEvent], path: str | Path) -> int:
    """Write the events as JSON lines; how many were written."""
    count = 0
    with Path(path).open("wb") as out:
        for event in events:
            out.write(to_json_line(event))
            count += 1
    return count
