"""A member's lots and the rules that move points between them (docs/contracts/
programme.md, "Points lifecycle"). Pure: the ledger asks, the book answers with the
allocations each change made.

The book holds every lot of the member with a remainder (and any other lot the
caller loaded), so the sum of its remainders is the member's balance. It keeps the
spendable (`available`) and the `pending` part as running sums.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from loyalty_kernel.programme import PointsLifecycle
from loyalty_points.domain.lots import (
    Allocation,
    Lot,
    Step,
    debt_lot,
    merged,
    vesting_schedule,
)


@dataclass
class Moment:
    """One step of one lot, as the book took it: what the ledger records of it."""

    at: datetime
    step: Step
    lot: Lot
    points: int  # what vested, was warned of, or expired
    allocations: tuple[Allocation, ...]


@dataclass
class LotBook:
    member_id: str
    lifecycle: PointsLifecycle
    lots: dict[str, Lot] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)  # lot ids to save
    opened: set[str] = field(default_factory=set)  # of those, the lots new since loading
    available: int = 0
    pending: int = 0
    _owing: Lot | None = field(default=None, init=False, repr=False)  # the debt lot, if any
    # The lots' next steps as (moment, step, earned_at, lot_id), soonest first. Kept
    # lazily: an entry whose lot has moved on since is dropped when it reaches the top.
    _due: list[tuple[datetime, Step, datetime, str]] = field(
        default_factory=list, init=False, repr=False
    )

    def __post_init__(self) -> None:
        for lot in self.lots.values():
            if lot.is_debt:
                self._owing = lot
            if lot.expired:
                continue
            if lot.vested:
                self.available += lot.remaining
            else:
                self.pending += lot.remaining
            self._schedule(lot)

    @property
    def balance(self) -> int:
        return self.available + self.pending

    @property
    def debt(self) -> int:
        """Points owed: what a clawback took that the member no longer held."""
        return -self._owing.remaining if self._owing is not None else 0

    def add(self, lot: Lot) -> tuple[Allocation, ...]:
        """A new lot (an earning or a positive adjustment); if it is spendable at once
        and the member owes points, it pays the debt first."""
        self.lots[lot.lot_id] = lot
        self.changed.add(lot.lot_id)
        self.opened.add(lot.lot_id)
        lot.remaining = 0
        moves = [self._move(lot, lot.points)]
        if lot.vested:
            moves += self._repay(lot.earned_at)
        return merged(moves)

    def take(self, points: int, at: datetime, first: Lot | None = None) -> tuple[Allocation, ...]:
        """Take `points` off: from `first` (a refund's own lot, pending or not), then
        from spendable lots soonest-expiring first; what is missing becomes debt."""
        moves: list[Allocation] = []
        if first is not None and first.remaining > 0 and not first.expired:
            moves.append(self._move(first, -min(points, first.remaining)))
        moves += self._spend(points + sum(p for _, p in moves))
        missing = points + sum(p for _, p in moves)
        if missing > 0:
            moves.append(self._move(self._debt_lot(at), -missing))
        return merged(moves)

    def spend(self, points: int) -> tuple[Allocation, ...]:
        """Take `points` from spendable lots only; the caller checked they are there."""
        if points > self.available:
            raise ValueError(f"{points} points asked, {self.available} spendable")
        return merged(self._spend(points))

    def put_back(
        self, allocations: Iterable[Allocation], at: datetime
    ) -> tuple[tuple[Allocation, ...], tuple[Allocation, ...]]:
        """Return spent points to the lots they came from: (what went back, what of it
        must expire at once because its lot expired in between). The latter count in
        the balance until `lapse` takes them out. What comes back to a spendable lot
        pays any debt first."""
        back: list[Allocation] = []
        gone: list[Allocation] = []
        for lot_id, taken in allocations:
            lot, points = self.lots[lot_id], -taken
            if lot.is_debt:  # a redemption replayed from before lots ran into debt
                owed = min(points, self.debt)
                if owed:
                    back.append(self._move(lot, owed))
                points -= owed  # what the expired lots that paid the debt would have held
            elif not (lot.expired or lot.expires_by(at)):
                back.append(self._move(lot, points))
                continue
            elif lot.remaining == 0:  # else the clock expires the rest, as due
                lot.expired = True
                self.changed.add(lot_id)
            if points:
                back.append((lot_id, points))
                gone.append((lot_id, -points))
                self.pending += points
        back += self._repay(at)
        return merged(back), merged(gone)

    def lapse(self, gone: Iterable[Allocation]) -> None:
        """Take out what `put_back` returned to lots that had expired."""
        self.pending += sum(p for _, p in gone)

    def take_written(self, points: int, at: datetime) -> tuple[Allocation, ...]:
        """A redemption the rules before lots allowed: spendable lots first, then
        pending ones (soonest to vest first), then, if the replay let lots expire that
        the old ledger still counted, debt."""
        moves = self._spend(points)
        short = points + sum(p for _, p in moves)
        pending = sorted((x for x in self.lots.values() if x.remaining > 0 and not x.vested),
                         key=lambda x: (x.vests_at, x.earned_at, x.lot_id))  # fmt: skip
        for lot in pending:
            if short == 0:
                break
            moves.append(self._move(lot, -min(short, lot.remaining)))
            short += moves[-1][1]
        if short:
            moves.append(self._move(self._debt_lot(at), -short))
        return merged(moves)

    def enough_vested_at(self, points: int) -> datetime | None:
        """When `points` will be spendable as the pending lots vest (debt paid first),
        counting the points that expire before then out; None if they never will be."""
        live = ((None if lot.vested else lot.vests_at, lot.expires_at, lot.remaining)
                for lot in self.lots.values()
                if lot.remaining > 0 and not lot.expired and not lot.is_debt)  # fmt: skip
        schedule = vesting_schedule(live, self.available)
        return next((at for at, _, then in schedule if then >= points), None)

    def next_moment(self) -> datetime | None:
        due = self._due
        while due:
            at, step, _, lot_id = due[0]
            if self.lots[lot_id].next_step() == (at, step):
                return at
            heapq.heappop(due)  # the lot moved on: spent, expired or stepped since
        return None

    def steps_until(self, until: datetime) -> Iterable[Moment]:
        """Take every step of every lot due at or before `until`, in time order (at the
        same instant: vest, warn, expire; then the older lot first)."""
        while (at := self.next_moment()) is not None and at <= until:
            _, step, _, lot_id = heapq.heappop(self._due)
            yield self._take_step(self.lots[lot_id], step, at)

    def _schedule(self, lot: Lot) -> None:
        step = lot.next_step()
        if step is not None:
            heapq.heappush(self._due, (step[0], step[1], lot.earned_at, lot.lot_id))

    def _take_step(self, lot: Lot, step: Step, at: datetime) -> Moment:
        points = lot.remaining
        self.changed.add(lot.lot_id)
        if step is Step.VEST:
            self.pending -= points
            self.available += points
            lot.vested = True
            self._schedule(lot)
            return Moment(at, step, lot, points, merged(self._repay(at)))
        if step is Step.WARN:
            lot.warned = True
            self._schedule(lot)
            return Moment(at, step, lot, points, ())
        moves = (self._move(lot, -points),)
        lot.expired = True
        return Moment(at, step, lot, points, moves)

    def _spend(self, points: int) -> list[Allocation]:
        moves: list[Allocation] = []
        if points <= 0:
            return moves
        for lot in sorted((x for x in self.lots.values() if x.spendable), key=Lot.spending_order):
            moves.append(self._move(lot, -min(points, lot.remaining)))
            points += moves[-1][1]
            if points == 0:
                break
        return moves

    def _repay(self, at: datetime) -> list[Allocation]:
        owed = self.debt
        if owed <= 0:
            return []
        moves = self._spend(owed)
        repaid = -sum(p for _, p in moves)
        if repaid:
            moves.append(self._move(self._debt_lot(at), repaid))
        return moves

    def _debt_lot(self, at: datetime) -> Lot:
        if self._owing is None:
            self._owing = debt_lot(self.member_id, at)
            self.lots[self._owing.lot_id] = self._owing
            self.opened.add(self._owing.lot_id)
        return self._owing

    def _move(self, lot: Lot, points: int) -> Allocation:
        was = lot.remaining
        lot.remaining += points
        self.changed.add(lot.lot_id)
        if was <= 0 < lot.remaining:
            self._schedule(lot)  # holding points again: it has steps to take
        if lot.vested and not lot.expired:
            self.available += points
        else:
            self.pending += points
        return lot.lot_id, points
