"""Request and response bodies of the points API (separate from tables and events)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

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


class ExpiryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    points: int  # what expires then unless spent first
    expires_at: datetime


class VestingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    points: int
    vests_at: datetime
    spendable_after: int  # spendable once they vest, if nothing is spent meanwhile


class BalanceOut(BaseModel):
    """`balance` = `available` + `pending`; `available` is below zero while the member
    owes points (a clawback took more than they held)."""

    model_config = ConfigDict(from_attributes=True)

    member_id: str
    balance: int
    available: int  # spendable now
    pending: int  # earned, not yet spendable (the return window)
    next_expiry: ExpiryOut | None
    vesting: list[VestingOut]  # the pending points by when they become spendable
    as_of: datetime | None  # the moment asked for; null: now
    updated_at: datetime | None  # when the balance last moved (null as of a moment)


class LotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lot_id: str
    source: str  # purchase, adjustment or debt
    reference: str  # the purchase or adjustment id
    store_id: str | None
    earned_at: datetime
    vests_at: datetime
    expires_at: datetime | None  # null: never
    points: int  # what the lot was opened with
    remaining: int
    status: str  # pending, vested, spent, expired or debt


class LotsOut(BaseModel):
    member_id: str
    as_of: datetime | None
    lots: list[LotOut]


class LotMoveOut(BaseModel):
    lot_id: str
    points: int  # put into (+) or taken from (-) the lot


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    delta: int
    balance_after: int
    available_after: int
    reference: str
    purchase_id: str | None
    store_id: str | None  # the purchase's store, with `purchase_id`
    tier: str | None
    occurred_at: datetime
    recorded_at: datetime
    lots: list[LotMoveOut]
    # An earning's: the programme version it earned under (null before versions were
    # kept) and the ids of the earning rules that changed it.
    programme_version: str | None = None
    rules: list[str] = []

    @field_validator("lots", mode="before")
    @classmethod
    def _pairs(cls, stored: object) -> object:
        if isinstance(stored, list) and all(isinstance(p, list) for p in stored):
            return [{"lot_id": lot_id, "points": points} for lot_id, points in stored]
        return stored


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


class HoldingOut(BaseModel):
    points: int
    members: int
    value: Decimal | None = None  # at the programme's point value


class PeriodOut(BaseModel):
    start: datetime
    end: datetime
    earned: int
    vested: int
    redeemed: int
    restored: int
    clawed_back: int
    adjusted: int  # net: added less taken
    expired: int


class BreakageOut(BaseModel):
    start: datetime
    end: datetime
    earned: int
    expired: int
    rate: Decimal | None  # expired / earned; null when nothing was earned


class ExpiringOut(BaseModel):
    within_days: int
    points: int
    value: Decimal


class LiabilityOut(BaseModel):
    """What the programme owes its members as of a moment (deferred revenue)."""

    as_of: datetime
    currency: str
    point_value: Decimal
    outstanding: HoldingOut  # the members' positive balances
    owed: HoldingOut  # what members with a negative balance owe
    available: int  # spendable, all members (signed)
    pending: int
    period: PeriodOut
    breakage: BreakageOut  # the 12 months up to `as_of`
    expiring: list[ExpiringOut]
