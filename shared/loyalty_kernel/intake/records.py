"""What a consuming service records of a purchase and its refunds, and what is left of
a purchase once refunds are taken off it (what the refund and tier rules read)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

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
