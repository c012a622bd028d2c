"""Request and response bodies of the points API (separate from tables and events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from loyalty_kernel.events.envelope import EventTime, Identifier
from loyalty_kernel.events.purchases import PurchaseData, RefundData
from loyalty_platform.http import NO_NUL, WHOLE_NUMBER


class PurchaseSubmission(PurchaseData):
    """A till's purchase: the event's data plus when it happened."""

    occurred_at: EventTime

    def as_data(self) -> PurchaseData:
        return PurchaseData.model_validate(self.model_dump(mode="json", exclude={"occurred_at"}))


class RefundSubmission(RefundData):
    """A till's refund: the event's data plus when it happened."""

    occurred_at: EventTime

    def as_data(self) -> RefundData:
        return RefundData.model_validate(self.model_dump(mode="json", exclude={"occurred_at"}))


class Accepted(BaseModel):
    """The event is on the topic; the ledger applies it shortly."""

    event_id: str
    topic: str
    partition: int
    offset: int


class BalanceOut(BaseModel):
    member_id: str
    balance: int
    updated_at: datetime


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    delta: int
    balance_after: int
    reference: str
    purchase_id: str | None
    store_id: str | None  # the purchase's store, with `purchase_id`
    tier: str | None
    occurred_at: datetime
    recorded_at: datetime


class LedgerPage(BaseModel):
    member_id: str
    entries: list[LedgerEntryOut]
    next_cursor: str | None


class DebitRequest(BaseModel):
    """Points to spend, from the rewards service. `debit_id` makes the call idempotent."""

    model_config = ConfigDict(extra="forbid")

    debit_id: Identifier
    points: Annotated[StrictInt, Field(ge=1, le=1_000_000_000), WHOLE_NUMBER]
    reference: Identifier  # what the points pay for, e.g. the redemption's id


class DebitOut(BaseModel):
    debit_id: str
    member_id: str
    points: int
    reference: str
    balance_after: int  # right after the debit
    created_at: datetime
    restored_at: datetime | None


class AdjustmentRequest(BaseModel):
    """A correction by ops: points to add (positive) or take (negative), and why.
    `adjustment_id` makes the call idempotent."""

    model_config = ConfigDict(extra="forbid")

    adjustment_id: Identifier
    points: Annotated[StrictInt, Field(ge=-1_000_000, le=1_000_000), WHOLE_NUMBER]
    reason: Annotated[str, Field(min_length=1, max_length=500, pattern=NO_NUL)]


class AdjustmentOut(BaseModel):
    adjustment_id: str
    member_id: str
    points: int
    reason: str
    actor: str  # the id of the key that made it
    balance_after: int
    made_at: datetime
