"""A plain, separate model of the points lifecycle (docs/contracts/programme.md, "Points
lifecycle"), written from the rules' text to check the ledger's lots against.

It keeps what a member owes as a number, not as a lot, and lets time pass by scanning
every lot for its next moment; the ledger does neither. How many points a purchase
earns or a refund takes back is not its business: it is told. Lots opened at the same
instant are told apart by the ledger's lot ids, the one arbitrary choice it shares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from loyalty_points.domain.lots import LotSource, lot_id_for

FAR = datetime.max


@dataclass
class RefLot:
    key: str  # what opened it: "p:<purchase>" or "a:<adjustment>"
    earned: datetime
    vests: datetime
    expires: datetime | None
    warn: datetime | None
    points: int
    left: int
    vested: bool = False
    warned: bool = False
    expired: bool = False

    @property
    def tie(self) -> str:
        source = LotSource.PURCHASE if self.key.startswith("p:") else LotSource.ADJUSTMENT
        store = "s-1" if source is LotSource.PURCHASE else None
        return lot_id_for("m-1", source, store, self.key[2:])

    def order(self) -> tuple[datetime, datetime, str]:
        return (self.expires or FAR.replace(tzinfo=self.earned.tzinfo), self.earned, self.tie)


@dataclass
class RefEntry:
    kind: str
    at: datetime
    delta: int
    balance_after: int
    available_after: int
    moved: dict[str, int]  # lot key (or "debt") -> points in (+) or out (-)


@dataclass
class ReferenceLots:
    pending_days: int
    expire_days: int
    soon_days: int
    lots: list[RefLot] = field(default_factory=list)
    owed: int = 0
    entries: list[RefEntry] = field(default_factory=list)
    taken_by: dict[str, dict[str, int]] = field(default_factory=dict)  # debit -> lot -> points
    lapsing: int = 0

    # What the member holds

    def available(self) -> int:
        live = sum(x.left for x in self.lots if x.vested and not x.expired)
        return live - self.owed

    def pending(self) -> int:
        # Restored points whose lot expired meanwhile count until their expiry entry.
        return sum(x.left for x in self.lots if not x.vested and not x.expired) + self.lapsing

    def balance(self) -> int:
        return self.available() + self.pending()

    def lot(self, key: str) -> RefLot | None:
        return next((x for x in self.lots if x.key == key), None)

    # Time

    def pass_time(self, until: datetime) -> None:
        while True:
            due = []
            for x in self.lots:
                if x.left <= 0 or x.expired:
                    continue
                if not x.vested:
                    due.append((x.vests, 0, x.earned, x.tie, x))
                elif x.warn is not None and not x.warned:
                    due.append((x.warn, 1, x.earned, x.tie, x))
                elif x.expires is not None:
                    due.append((x.expires, 2, x.earned, x.tie, x))
            due = [d for d in due if d[0] <= until]
            if not due:
                return
            at, what, _, _, x = min(due, key=lambda d: d[:4])
            if what == 0:
                x.vested = True
                moved: dict[str, int] = {}
                self._pay_debt_from([x], moved)
                self._entry("vested", at, 0, moved)
            elif what == 1:
                x.warned = True
                self._entry("expiring_soon", at, 0, {})
            else:
                gone = x.left
                x.left, x.expired = 0, True
                self._entry("expired", at, -gone, {x.key: -gone})

    # What happens to the member

    def earn(self, purchase: str, at: datetime, points: int) -> None:
        lot = self._open(f"p:{purchase}", at, points, self.pending_days)
        moved = {lot.key: points}
        if lot.vested:
            self._pay_debt_from([lot], moved)
        self._entry("earned", at, points, moved)

    def claw_back(self, purchase: str, at: datetime, points: int) -> None:
        moved: dict[str, int] = {}
        own = self.lot(f"p:{purchase}")
        want = points
        if own is not None and own.left > 0 and not own.expired:
            got = min(own.left, want)
            own.left -= got
            moved[own.key] = -got
            want -= got
        want = self._take_spendable(want, moved)
        if want:
            self.owed += want
            moved["debt"] = moved.get("debt", 0) - want
        self._entry("clawed_back", at, -points, moved)

    def spend(self, debit: str, at: datetime, points: int) -> str | None:
        """None when spent; else why not."""
        if self.available() < 0 or self.balance() < 0:
            return "negative_balance"
        if points > self.available():
            return "points_pending" if self._enough_later(points) else "insufficient_points"
        moved: dict[str, int] = {}
        self._take_spendable(points, moved)
        self.taken_by[debit] = moved
        self._entry("redeemed", at, -points, moved)
        return None

    def _enough_later(self, points: int) -> bool:
        """Whether vesting lots bring `points` within reach before expiring ones take
        them away again."""
        have, changes = self.available(), []
        for x in self.lots:
            if x.left > 0 and not x.expired:
                if not x.vested:
                    changes.append((x.vests, 0, x.left))
                if x.expires is not None:
                    changes.append((x.expires, 1, -x.left))
        for _, kind, moved in sorted(changes):
            have += moved
            if kind == 0 and have >= points:
                return True
        return False

    def spend_as_written(self, debit: str, at: datetime, points: int) -> None:
        """A redemption the old rules allowed (points were spendable at once): what is
        spendable now is taken, then from pending lots, soonest to vest first; what is
        still short (lots that expired here, not in the old ledger) is owed."""
        moved: dict[str, int] = {}
        short = self._take_spendable(points, moved)
        for x in sorted(self.lots, key=lambda x: (x.vests, x.earned, x.tie)):
            if short and not x.vested and not x.expired and x.left > 0:
                got = min(x.left, short)
                x.left -= got
                moved[x.key] = -got
                short -= got
        if short:
            self.owed += short
            moved["debt"] = -short
        self.taken_by[debit] = moved
        self._entry("redeemed", at, -points, moved)

    def restore(self, debit: str, at: datetime) -> None:
        moved: dict[str, int] = {}
        lapsed: dict[str, int] = {}
        taken_from = self.taken_by.pop(debit)
        for key, taken in taken_from.items():
            moved[key] = -taken
            if key == "debt":  # owed no more than is owed now; the rest lapses
                back = min(-taken, self.owed)
                self.owed -= back
                if -taken - back:
                    lapsed[key] = taken + back
                continue
            x = self.lot(key)
            assert x is not None
            if x.expired or (x.expires is not None and x.expires <= at):
                lapsed[key] = taken
                x.expired = x.expired or x.left == 0
            else:
                x.left -= taken
        spendable = sorted((x for x in self.lots if x.vested and not x.expired), key=RefLot.order)
        self._pay_debt_from(spendable, moved)
        self.lapsing = -sum(lapsed.values())
        self._entry("restored", at, -sum(taken_from.values()), moved)
        if lapsed:
            self.lapsing = 0
            self._entry("expired", at, sum(lapsed.values()), lapsed)

    def adjust(self, adjustment: str, at: datetime, points: int) -> None:
        if points > 0:
            lot = self._open(f"a:{adjustment}", at, points, 0)
            moved = {lot.key: points}
            self._pay_debt_from([lot], moved)
        else:
            moved = {}
            want = self._take_spendable(-points, moved)
            if want:
                self.owed += want
                moved["debt"] = -want
        self._entry("adjusted", at, points, moved)

    # Inner workings

    def _open(self, key: str, at: datetime, points: int, pending_days: int) -> RefLot:
        vests = at + timedelta(days=pending_days)
        expires = at + timedelta(days=self.expire_days) if self.expire_days else None
        warn = None
        if expires is not None and self.soon_days:
            warn = max(expires - timedelta(days=self.soon_days), vests)
        lot = RefLot(key, at, vests, expires, warn, points, points, vested=vests <= at)
        self.lots.append(lot)
        return lot

    def _take_spendable(self, want: int, moved: dict[str, int]) -> int:
        for x in sorted(self.lots, key=RefLot.order):
            if want == 0:
                break
            if x.vested and not x.expired and x.left > 0:
                got = min(x.left, want)
                x.left -= got
                moved[x.key] = moved.get(x.key, 0) - got
                want -= got
        return want

    def _pay_debt_from(self, lots: list[RefLot], moved: dict[str, int]) -> None:
        for x in lots:
            if self.owed == 0:
                return
            pay = min(self.owed, x.left)
            if pay:
                x.left -= pay
                self.owed -= pay
                moved[x.key] = moved.get(x.key, 0) - pay
                moved["debt"] = moved.get("debt", 0) + pay

    def _entry(self, kind: str, at: datetime, delta: int, moved: dict[str, int]) -> None:
        clean = {k: v for k, v in moved.items() if v}
        self.entries.append(RefEntry(kind, at, delta, self.balance(), self.available(), clean))
