"""What a till asks of every service, in the retailer's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# What names a purchase: its store and its receipt number there (two stores' tills
# may number their receipts alike).
PurchaseKey = tuple[str, str]  # (store_id, purchase_id)


@dataclass(frozen=True)
class PurchaseLine:
    """One item on the receipt, as the earning rules read it."""

    sku: str
    category: str | None
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class RecordPurchase:
    purchase_id: str
    member_id: str
    store_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    event_id: str
    items: tuple[PurchaseLine, ...] = ()  # none: one line of the whole amount

    @property
    def key(self) -> PurchaseKey:
        return (self.store_id, self.purchase_id)


@dataclass(frozen=True)
class RecordRefund:
    refund_id: str
    purchase_id: str
    member_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    event_id: str
    store_id: str | None = None  # the purchase's store; None: the only purchase so numbered


IntakeCommand = RecordPurchase | RecordRefund
