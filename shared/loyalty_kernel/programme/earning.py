"""Points earned by a purchase and taken back by its refunds (docs/contracts/programme.md,
"Earning rules").

A purchase's lines are its items (`quantity x unit_price`), scaled to sum to its
amount in whole cents; line rules set each line's multiplier, purchase rules add
bonuses, caps bound what a rule adds for one member over a rolling window; the sum is
exact and floored once. Without rules this is `floor(amount x points_per_unit x tier
multiplier)`, which is also the shortcut taken then. Pure: the member's past comes in
as `EarningPast`, so the points service and the what-if replay give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Context, Decimal
from typing import Protocol

from loyalty_kernel.programme.model import Programme, ProgrammeVersion, TierLevel
from loyalty_kernel.programme.rules import LineRule, PurchaseRule

# Exact for every product the validated bounds allow (9 + 8 + 7 + 7 digits).
_EXACT = Context(prec=60)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_CENT = Decimal("0.01")


class BasketItem(Protocol):
    @property
    def sku(self) -> str: ...
    @property
    def category(self) -> str | None: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> Decimal: ...


class Basket(Protocol):
    """What the rules read of a purchase."""

    @property
    def amount(self) -> Decimal: ...
    @property
    def store_id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def items(self) -> Sequence[BasketItem]: ...


@dataclass(frozen=True)
class Line:
    sku: str | None
    category: str | None
    amount: Decimal  # whole cents; a purchase's lines sum to its amount


def lines_of(amount: Decimal, items: Sequence[BasketItem]) -> tuple[Line, ...]:
    """The purchase's lines: each item's share of `amount` by its `quantity x
    unit_price`, in whole cents that sum to `amount` (largest remainders take the
    leftover cents, the earlier line on a tie). Without items, or with items that are
    all free, one line of the whole amount with no sku or category."""
    weights = [item.quantity * int(item.unit_price * 100) for item in items]
    total = sum(weights)
    if not items or total == 0:
        return (Line(None, None, amount),)
    cents = int(amount * 100)
    shares = [divmod(cents * w, total) for w in weights]
    left = cents - sum(whole for whole, _ in shares)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-shares[i][1], i))
    extra = set(by_remainder[:left])
    return tuple(
        Line(item.sku, item.category, Decimal(whole + (i in extra)) * _CENT)
        for i, (item, (whole, _)) in enumerate(zip(items, shares, strict=True))
    )


@dataclass(frozen=True)
class EarningPast:
    """What the rules need of the member's history: whether the ledger has recorded a
    purchase of theirs before, and what each earlier purchase's rules gave them (for
    caps): its event time and the extra points by rule id."""

    first_purchase: bool = True
    given: Sequence[tuple[datetime, Mapping[str, Decimal]]] = ()

    def given_by(self, rule: LineRule | PurchaseRule, at: datetime) -> Decimal:
        """What `rule` gave in the fullest of its cap windows a purchase at `at` falls
        in: (e - cap_days, e] for e at `at`, and at each later purchase within cap_days
        (an earlier purchase can arrive late; the windows ending at the purchases
        already recorded must stay within the cap too)."""
        assert rule.cap is not None
        span = rule.cap
        mine = [(t, g[rule.id]) for t, g in self.given if rule.id in g]
        ends = [at] + [t for t, _ in mine if at < t < at + span]
        return max(sum((x for t, x in mine if e - span < t <= e), _ZERO) for e in ends)


@dataclass(frozen=True)
class Earned:
    """What a purchase earns, under which version, and what each rule added (negative
    for an exclusion); `rules` lists the ids that changed the result, in file order."""

    points: int
    version: str
    rules: tuple[str, ...] = ()
    extras: Mapping[str, Decimal] = field(default_factory=dict)


class EarningPolicy:
    """One programme version's earning: points per unit and its rules."""

    def __init__(self, version: ProgrammeVersion) -> None:
        self.version = version.version
        self.points_per_unit = version.earning.points_per_unit
        self._lines = version.earning.line_rules
        self._bonuses = version.earning.purchase_rules
        self._order = {r.id: i for i, r in enumerate(version.earning.rules)}
        self.has_rules = bool(version.earning.rules)

    def earn(self, purchase: Basket, tier: TierLevel, past: EarningPast) -> Earned:
        """The points `purchase` earns for a member who held `tier` just before it."""
        if not self.has_rules:
            return Earned(self.points_for(purchase.amount, tier.multiplier), self.version)
        at = purchase.occurred_at
        room = _Room(past, at)
        extras: dict[str, Decimal] = {}
        total = _ZERO
        lines = [r for r in self._lines if r.in_force(at) and r.for_tier(tier.name)]
        for line in lines_of(purchase.amount, purchase.items):
            base = _EXACT.multiply(
                _EXACT.multiply(line.amount, self.points_per_unit), tier.multiplier
            )
            rule = _line_rule(lines, line, purchase.store_id)
            points = base
            if rule is not None:
                extra = room.allow(rule, _EXACT.multiply(base, rule.multiplier - _ONE))
                points = _EXACT.add(base, extra)
                extras[rule.id] = _EXACT.add(extras.get(rule.id, _ZERO), extra)
            total = _EXACT.add(total, points)
        for bonus in self._bonuses:
            if _earns_bonus(bonus, purchase, tier.name, past.first_purchase):
                given = room.allow(bonus, Decimal(bonus.bonus))
                if given:
                    extras[bonus.id] = given
                    total = _EXACT.add(total, given)
        changed = {k: v for k, v in extras.items() if v != 0}
        order = tuple(sorted(changed, key=self._order.__getitem__))
        return Earned(int(total.to_integral_value(ROUND_FLOOR)), self.version, order, changed)

    def points_for(self, amount: Decimal, multiplier: Decimal) -> int:
        """floor(amount x points per unit x tier multiplier): the rule-less case."""
        return int((amount * self.points_per_unit * multiplier).to_integral_value(ROUND_FLOOR))


class Earnings:
    """A programme's earning over time: the policy of the version in force at a moment."""

    def __init__(self, programme: Programme) -> None:
        self._programme = programme
        self._policies = {v.version: EarningPolicy(v) for v in programme.versions}
        self._only = next(iter(self._policies.values())) if len(self._policies) == 1 else None

    def at(self, moment: datetime) -> EarningPolicy:
        if self._only is not None:  # most programmes: asked at every purchase
            return self._only
        return self._policies[self._programme.version_at(moment).version]


def _line_rule(rules: Sequence[LineRule], line: Line, store: str) -> LineRule | None:
    """The rule that sets the line's multiplier: an exclusion (0) if any matches, else
    the highest multiplier (the first listed on a tie); None: multiplier 1."""
    best: LineRule | None = None
    for rule in rules:
        if not rule.matches(line.sku, line.category, store):
            continue
        if rule.multiplier == 0:
            return rule
        if best is None or rule.multiplier > best.multiplier:
            best = rule
    return best


def _earns_bonus(rule: PurchaseRule, purchase: Basket, tier: str, first: bool) -> bool:
    return (
        rule.in_force(purchase.occurred_at)
        and rule.for_tier(tier)
        and (rule.min_amount is None or purchase.amount >= rule.min_amount)
        and (rule.first_purchase is None or rule.first_purchase == first)
        and (rule.stores is None or purchase.store_id in rule.stores)
    )


class _Room:
    """What each capped rule may still give the member at this purchase."""

    def __init__(self, past: EarningPast, at: datetime) -> None:
        self._past, self._at = past, at
        self._left: dict[str, Decimal] = {}

    def allow(self, rule: LineRule | PurchaseRule, extra: Decimal) -> Decimal:
        if rule.cap_points is None or extra <= 0:
            return extra
        left = self._left.get(rule.id)
        if left is None:
            left = max(_ZERO, Decimal(rule.cap_points) - self._past.given_by(rule, self._at))
        given = min(extra, left)
        self._left[rule.id] = left - given
        return given


def clawback_total(earned: int, refunded_so_far: Decimal, purchase_amount: Decimal) -> int:
    """floor(earned x refunded so far / purchase amount), exact in integer cents."""
    refunded_cents = int(refunded_so_far * 100)
    amount_cents = int(purchase_amount * 100)
    return (earned * refunded_cents) // amount_cents
