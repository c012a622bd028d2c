"""What a consuming service records of a purchase and its refunds, and what is left of
a purchase once refunds are taken off it (what the refund and tier rules read)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from loyalty_kernel.intake.commands import PurchaseKey

# The store of a purchase recorded before purchases were kept by store: a refund naming
# any store finds it, when no purchase of that store has the id.
UNKNOWN_STORE = ""


class CountedRefund(Protocol):
    @property
    def refund_id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def occurred_at(self) -> datetime: ...


class RefundTally:
    """For a recorded purchase class with an `amount` and its `refunds`: what has been
    refunded, and what is left of it at a moment (the tier rule's view)."""

    amount: Decimal
    refunds: Sequence[CountedRefund]

    @property
    def refunded(self) -> Decimal:
        return sum((r.amount for r in self.refunds), Decimal(0))

    def refund_amount(self, refund_id: str) -> Decimal | None:
        return next((r.amount for r in self.refunds if r.refund_id == refund_id), None)

    def net_as_of(self, at: datetime) -> Decimal:
        """The amount less the refunds known at `at`."""
        if not self.refunds:  # most purchases; the tier rule asks this very often
            return self.amount
        return self.amount - sum(
            (r.amount for r in self.refunds if r.occurred_at <= at), Decimal(0)
        )


@dataclass(frozen=True)
class RecordedRefund:
    """A refund as a service records it; services add what they keep of their own."""

    refund_id: str  # counts once per purchase: stores may number refunds alike too
    purchase_id: str
    amount: Decimal
    occurred_at: datetime
    store_id: str  # the purchase's

    @property
    def purchase_key(self) -> PurchaseKey:
        return (self.store_id, self.purchase_id)


@dataclass
class RecordedPurchase(RefundTally):
    """A purchase as a service records it; each service adds its `refunds` (of its own
    refund type) and what else it keeps."""

    purchase_id: str
    member_id: str
    amount: Decimal
    occurred_at: datetime
    store_id: str

    @property
    def key(self) -> PurchaseKey:
        return (self.store_id, self.purchase_id)


P = TypeVar("P")


class Receipts(dict[PurchaseKey, P]):
    """The purchases recorded by the ledgers or standings applied together, by store and
    id, and also by id alone: a refund names its purchase by id, and a replay of a whole
    log holds every purchase in it."""

    def __init__(self) -> None:
        super().__init__()
        self._by_id: dict[str, list[PurchaseKey]] = defaultdict(list)

    def __setitem__(self, key: PurchaseKey, purchase: P) -> None:
        if key not in self:
            self._by_id[key[1]].append(key)
        super().__setitem__(key, purchase)

    def named(self, purchase_id: str) -> list[tuple[PurchaseKey, P]]:
        """The purchases with this id, at any store."""
        return [(k, self[k]) for k in self._by_id.get(purchase_id, ())]


class _Timed(Protocol):
    @property
    def key(self) -> PurchaseKey: ...
    @property
    def occurred_at(self) -> datetime: ...


T = TypeVar("T", bound=_Timed)


class PurchaseTimeline(Generic[T]):
    """One member's purchases by event time (recorded order among equal times): what a
    replay of a whole log holds, to hand each command the part a consumer would load."""

    def __init__(self) -> None:
        self._times: list[datetime] = []
        self._purchases: list[T] = []

    def add(self, purchase: T) -> None:
        at = bisect.bisect_right(self._times, purchase.occurred_at)
        self._times.insert(at, purchase.occurred_at)
        self._purchases.insert(at, purchase)

    def since(self, start: datetime) -> dict[PurchaseKey, T]:
        """The purchases after `start`, by store and id."""
        first = bisect.bisect_right(self._times, start)
        return {p.key: p for p in self._purchases[first:]}
