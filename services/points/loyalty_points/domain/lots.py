"""Lots: the points of one earning, and how they vest, get spent and expire.

A member's points are held in lots. A purchase's points are a lot, pending until
`vests_at`, then spendable until `expires_at`. A positive adjustment is a lot that is
spendable at once. A member who owes points (a clawback took more than they held) has
one debt lot whose remainder is negative, so the remainders of a member's lots always
add up to their balance. While the debt lot is below zero no other spendable lot holds
anything: whatever vests or comes back pays the debt first.

Every change to lots is an `Allocation`: points put into (+) or taken out of (-) one
lot, so each ledger entry can say which lots it touched.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from loyalty_kernel.programme import PointsLifecycle

_LOT_IDS = uuid.UUID("4f1f6c1e-2b7a-5d3e-9a41-6c0b7e2d9f10")
_LOT_ID_SPACE = _LOT_IDS.bytes


class LotSource(StrEnum):
    PURCHASE = "purchase"
    ADJUSTMENT = "adjustment"
    DEBT = "debt"


class LotStatus(StrEnum):
    PENDING = "pending"
    VESTED = "vested"  # spendable, with points left
    SPENT = "spent"  # nothing left: spent or clawed back
    EXPIRED = "expired"
    DEBT = "debt"


class Step(IntEnum):
    """What happens to a lot at one of its moments; at the same instant, in this order."""

    VEST = 0
    WARN = 1  # its expiry is `expiring_soon` away
    EXPIRE = 2


Allocation = tuple[str, int]  # (lot id, points put in or taken out)


def status_of(source: LotSource, expired: bool, remaining: int, vested: bool) -> LotStatus:
    if source is LotSource.DEBT:
        return LotStatus.DEBT
    if expired:
        return LotStatus.EXPIRED
    if remaining == 0:
        return LotStatus.SPENT
    return LotStatus.VESTED if vested else LotStatus.PENDING


def lot_id_for(member_id: str, source: LotSource, store_id: str | None, reference: str) -> str:
    """The same lot gets the same id in every replay, on any replica: the uuid5 of
    what it is, worked out without `uuid.UUID` objects (one per purchase on the hot
    path)."""
    name = f"{member_id}\x1f{source}\x1f{store_id or ''}\x1f{reference}".encode()
    digest = bytearray(hashlib.sha1(_LOT_ID_SPACE + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Lot:
    lot_id: str
    member_id: str
    source: LotSource
    reference: str  # the purchase id, the adjustment id, or "debt"
    store_id: str | None  # the purchase's store
    earned_at: datetime
    vests_at: datetime
    expires_at: datetime | None  # None: never
    points: int  # what it was opened with
    remaining: int
    vested: bool = False
    warned: bool = False
    expired: bool = False
    warn_at: datetime | None = None

    @property
    def status(self) -> LotStatus:
        return status_of(self.source, self.expired, self.remaining, self.vested)

    @property
    def spendable(self) -> bool:
        """Vested, not expired, holding points."""
        return self.vested and not self.expired and self.remaining > 0 and not self.is_debt

    @property
    def is_debt(self) -> bool:
        return self.source is LotSource.DEBT

    def expires_by(self, at: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= at

    def next_step(self) -> tuple[datetime, Step] | None:
        """The lot's next moment and what happens then; None for a lot that has
        nothing left to vest, warn of or expire."""
        if self.remaining <= 0 or self.expired:
            return None
        if not self.vested:
            return self.vests_at, Step.VEST
        if not self.warned and self.warn_at is not None:
            return self.warn_at, Step.WARN
        if self.expires_at is not None:
            return self.expires_at, Step.EXPIRE
        return None

    def spending_order(self) -> tuple[datetime, datetime, str]:
        """Soonest-expiring first; ties, and lots that never expire, oldest first."""
        return (self.expires_at or datetime.max.replace(tzinfo=self.earned_at.tzinfo),
                self.earned_at, self.lot_id)  # fmt: skip


@dataclass(frozen=True)
class LotFacts:
    """What an entry about one lot tells of it: its id, its dates, and the points the
    entry is about (earned, vested, about to expire, expired)."""

    lot_id: str
    points: int
    vests_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, lot: Lot, points: int) -> LotFacts:
        return cls(lot.lot_id, points, lot.vests_at, lot.expires_at)


def open_lot(
    member_id: str,
    source: LotSource,
    reference: str,
    store_id: str | None,
    at: datetime,
    points: int,
    lifecycle: PointsLifecycle,
) -> Lot:
    """A new lot under the programme's lifecycle. Only purchases wait to vest."""
    pending = lifecycle.pending if source is LotSource.PURCHASE else None
    vests_at = at + pending if pending else at
    expire_after, soon = lifecycle.expire_after, lifecycle.expiring_soon
    expires_at = at + expire_after if expire_after else None
    warn_at = max(expires_at - soon, vests_at) if expires_at and soon else None
    lot_id = lot_id_for(member_id, source, store_id, reference)
    lot = Lot(lot_id, member_id, source, reference, store_id, at, vests_at, expires_at,
              points, points, warn_at=warn_at)  # fmt: skip
    lot.vested = vests_at <= at
    return lot


def debt_lot(member_id: str, at: datetime) -> Lot:
    lot_id = lot_id_for(member_id, LotSource.DEBT, None, "debt")
    return Lot(lot_id, member_id, LotSource.DEBT, "debt", None, at, at, None, 0, 0, vested=True)


def vesting_schedule(
    held: Iterable[tuple[datetime | None, datetime | None, int]], available: int
) -> list[tuple[datetime, int, int]]:
    """As pending lots vest: (moment, points vesting then, spendable then), soonest
    first, if nothing is spent meanwhile. `held` gives each live lot holding points as
    (when it vests, None if it has; when it expires, None if never or already counted
    out; what it holds); `available` is what is spendable now, below zero while a debt
    is owed, which vesting pays first. At one instant lots vest before others expire,
    as the clock takes them."""
    changes: list[tuple[datetime, int, int]] = []  # (moment, vest 0 / expire 1, points)
    for vests_at, expires_at, remaining in held:
        if vests_at is not None:
            changes.append((vests_at, 0, remaining))
        if expires_at is not None:
            changes.append((expires_at, 1, -remaining))
    schedule: dict[datetime, tuple[int, int]] = {}
    have = available
    for at, step, points in sorted(changes):
        have += points
        if step == 0:
            vesting, _ = schedule.get(at, (0, 0))
            schedule[at] = (vesting + points, have)
    return [(at, points, then) for at, (points, then) in schedule.items()]


def merged(allocations: Iterable[Allocation]) -> tuple[Allocation, ...]:
    """One allocation per lot, in the order lots were first touched, zeros dropped."""
    sums: dict[str, int] = {}
    for lot_id, points in allocations:
        sums[lot_id] = sums.get(lot_id, 0) + points
    return tuple((lot_id, p) for lot_id, p in sums.items() if p)
