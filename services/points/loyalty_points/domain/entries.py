"""What a ledger records: its entries, the debits and adjustments behind some of them,
and why a spend or an adjustment can be refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from loyalty_points.domain.lots import Allocation, LotFacts


class EntryKind(StrEnum):
    EARNED = "earned"
    CLAWED_BACK = "clawed_back"
    REDEEMED = "redeemed"
    RESTORED = "restored"
    ADJUSTED = "adjusted"
    VESTED = "vested"
    EXPIRING_SOON = "expiring_soon"
    EXPIRED = "expired"


MAX_ADJUSTMENT = 1_000_000


class DebitRefused(Exception):
    """Points a member cannot spend; `reason` is the API's error code. `vests_at`, for
    points still pending: when enough of them will have vested."""

    def __init__(self, reason: str, message: str, vests_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.vests_at = vests_at


@dataclass(frozen=True)
class Debit:
    """Points taken off a balance for a redemption, and put back if it is cancelled."""

    debit_id: str
    member_id: str
    points: int
    reference: str  # what the points paid for, e.g. the redemption's id
    created_at: datetime
    balance_after: int
    restored_at: datetime | None = None
    lots: tuple[Allocation, ...] = ()  # what it took from which lots


@dataclass(frozen=True)
class Adjustment:
    """Points added or taken by hand by ops, with the reason and who did it."""

    adjustment_id: str
    member_id: str
    points: int  # signed
    reason: str
    actor: str  # the id of the API key that made it
    made_at: datetime
    balance_after: int


class AdjustmentRefused(ValueError):
    pass


@dataclass(frozen=True)
class LedgerEntry:
    member_id: str
    kind: EntryKind
    delta: int
    balance_after: int
    reference: str
    purchase_id: str | None
    occurred_at: datetime
    tier: str | None = None
    store_id: str | None = None  # with `purchase_id`, the purchase an entry is about
    available_after: int = 0
    available_delta: int = 0
    lots: tuple[Allocation, ...] = ()  # the lots it put points into (+) or took from (-)
    lot: LotFacts | None = None  # the lot an earning, vesting or expiry is about
    programme_version: str | None = None  # an earning's: the version it earned under
    rules: tuple[str, ...] = ()  # an earning's: the ids of the rules that changed it
