"""What a till asks of every service, in the retailer's words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class RecordPurchase:
    purchase_id: str
    member_id: str
    store_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    event_id: str


@dataclass(frozen=True)
class RecordRefund:
    refund_id: str
    purchase_id: str
    member_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    event_id: str


IntakeCommand = RecordPurchase | RecordRefund
