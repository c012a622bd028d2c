"""What tills send on `purchases`: completed purchases and refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from loyalty_kernel.events.envelope import CloudEvent, Identifier, derived_event_id
from loyalty_kernel.events.money import Amount, Currency, UnitPrice

PURCHASE_COMPLETED = "loyalty.purchase.completed.v1"
PURCHASE_REFUNDED = "loyalty.purchase.refunded.v1"
MAX_ITEMS = 500  # lines on one receipt; more is a schema violation, not a purchase


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineItem(_Data):
    sku: Annotated[str, Field(min_length=1, max_length=128)]
    category: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    quantity: Annotated[int, Field(gt=0, le=100_000, strict=True)]
    unit_price: UnitPrice


class PurchaseData(_Data):
    purchase_id: Identifier
    member_id: Identifier
    store_id: Identifier
    amount: Amount
    currency: Currency
    items: Annotated[list[LineItem], Field(max_length=MAX_ITEMS)] | None = None


class RefundData(_Data):
    refund_id: Identifier
    purchase_id: Identifier
    member_id: Identifier
    amount: Amount
    currency: Currency
    reason: Annotated[str, Field(max_length=500)] | None = None
    # The store the purchase was made at: with the purchase id, what names it (two
    # stores may number receipts alike). Without it, the purchase id must be unique.
    store_id: Identifier | None = None


class _MemberEvent(CloudEvent):
    @model_validator(mode="after")
    def _subject_is_member(self) -> _MemberEvent:
        if self.subject != self.data.member_id:
            raise ValueError("subject must equal data.member_id")
        return self


class PurchaseCompleted(_MemberEvent):
    type: Literal["loyalty.purchase.completed.v1"]
    data: PurchaseData


class PurchaseRefunded(_MemberEvent):
    type: Literal["loyalty.purchase.refunded.v1"]
    data: RefundData


PurchaseTopicEvent = Annotated[PurchaseCompleted | PurchaseRefunded, Field(discriminator="type")]
PURCHASE_TOPIC = TypeAdapter[PurchaseCompleted | PurchaseRefunded](PurchaseTopicEvent)


def till_event(
    data: PurchaseData | RefundData, *, source: str, time: datetime
) -> PurchaseCompleted | PurchaseRefunded:
    """The event a till would have sent, as the REST ingest makes it. Its id follows from
    the purchase or refund id, so a retried post gets the same event id."""
    if isinstance(data, RefundData):
        kind, business_id = PURCHASE_REFUNDED, data.refund_id
    else:
        kind, business_id = PURCHASE_COMPLETED, data.purchase_id
    return PURCHASE_TOPIC.validate_python(
        {
            "specversion": "1.0",
            "id": derived_event_id("rest", kind, business_id),
            "source": source,
            "type": kind,
            "time": time,
            "subject": data.member_id,
            "data": data,
        }
    )
