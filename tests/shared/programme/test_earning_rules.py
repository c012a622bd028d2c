"""The earning rules against a reference computation written here, in fractions, from
the rules as the programme contract states them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.intake.commands import PurchaseLine, RecordPurchase
from loyalty_kernel.programme import EarningPast, EarningPolicy, Programme, TierLevel
from loyalty_kernel.programme.earning import lines_of
from loyalty_kernel.programme.rules import LineRule, PurchaseRule

T0 = datetime(2026, 11, 20, tzinfo=UTC)
LEVELS = Programme().tiers.levels
OPAL, PEARL, RUBY, DIAMOND = LEVELS


def programme(*rules: dict[str, Any], points_per_unit: str = "1") -> Programme:
    return Programme.model_validate(
        {"earning": {"points_per_unit": points_per_unit, "rules": list(rules)}}
    )


def policy(*rules: dict[str, Any], points_per_unit: str = "1") -> EarningPolicy:
    return EarningPolicy(programme(*rules, points_per_unit=points_per_unit).versions[0])


def buy(amount: str, *items: tuple[str, str | None, int, str], at: datetime = T0,
        store: str = "s1") -> RecordPurchase:  # fmt: skip
    lines = tuple(PurchaseLine(sku, cat, q, Decimal(price)) for sku, cat, q, price in items)
    return RecordPurchase("p", "m", store, Decimal(amount), "USD", at, "e", lines)


# --- the reference -------------------------------------------------------------------


def reference_lines(amount: Decimal, items: tuple[PurchaseLine, ...]) -> list[tuple[Any, Any, int]]:
    """(sku, category, cents): shares of the amount by quantity x price, whole cents,
    the leftover cents one each to the largest remainders (the earlier on a tie)."""
    cents = int(amount * 100)
    weights = [Fraction(i.quantity) * Fraction(i.unit_price) for i in items]
    if not items or sum(weights) == 0:
        return [(None, None, cents)]
    exact = [Fraction(cents) * w / sum(weights) for w in weights]
    floors = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))
    for i in order[: cents - sum(floors)]:
        floors[i] += 1
    return [(i.sku, i.category, c) for i, c in zip(items, floors, strict=True)]


def reference_points(
    prog: Programme, cmd: RecordPurchase, tier: TierLevel, first: bool,
    given: list[tuple[datetime, dict[str, Fraction]]],
) -> tuple[int, dict[str, Fraction]]:  # fmt: skip
    """The points, and what each rule added, computed from the contract's wording."""
    at, rules = cmd.occurred_at, prog.earning.rules
    ppu, tm = Fraction(prog.earning.points_per_unit), Fraction(tier.multiplier)

    def live(r: Any) -> bool:
        return ((r.starts is None or r.starts <= at) and (r.until is None or at < r.until)
                and (r.tiers is None or tier.name in r.tiers))  # fmt: skip

    room: dict[str, Fraction] = {}
    for r in rules:
        if r.cap_points is not None:
            # Every window of cap_days that holds this purchase and ends at a purchase.
            span = timedelta(days=r.cap_days or 0)
            ends = [at] + [t for t, _ in given if at < t < at + span]
            used = max(sum((g.get(r.id, Fraction(0)) for t, g in given if e - span < t <= e),
                           Fraction(0)) for e in ends)  # fmt: skip
            room[r.id] = max(Fraction(0), r.cap_points - used)
    added: dict[str, Fraction] = {}
    total = Fraction(0)
    for sku, category, cents in reference_lines(cmd.amount, cmd.items):
        base = Fraction(cents, 100) * ppu * tm
        hits = [r for r in rules if isinstance(r, LineRule) and live(r)
                and (r.match.sku is None or sku in r.match.sku)
                and (r.match.category is None or category in r.match.category)
                and (r.match.store is None or cmd.store_id in r.match.store)]  # fmt: skip
        zero = [r for r in hits if r.multiplier == 0]
        if zero:
            chosen = zero[0]
        elif hits:
            top = max(r.multiplier for r in hits)
            chosen = next(r for r in hits if r.multiplier == top)
        else:
            total += base
            continue
        extra = base * (Fraction(chosen.multiplier) - 1)
        if chosen.id in room and extra > 0:
            extra = min(extra, room[chosen.id])
            room[chosen.id] -= extra
        added[chosen.id] = added.get(chosen.id, Fraction(0)) + extra
        total += base + extra
    for r in rules:
        if not isinstance(r, PurchaseRule) or not live(r):
            continue
        if r.min_amount is not None and cmd.amount < r.min_amount:
            continue
        if r.first_purchase is not None and r.first_purchase != first:
            continue
        if r.stores is not None and cmd.store_id not in r.stores:
            continue
        bonus = Fraction(r.bonus)
        if r.id in room:
            bonus = min(bonus, room[r.id])
            room[r.id] -= bonus
        if bonus:
            added[r.id] = bonus
            total += bonus
    return math.floor(total), {k: v for k, v in added.items() if v != 0}


# --- examples ------------------------------------------------------------------------

MEAT_3X = {"id": "meat-3x", "multiplier": "3", "match": {"category": ["meat"]},
           "from": "2026-11-20T00:00:00Z", "until": "2026-11-27T00:00:00Z"}  # fmt: skip
NO_GIFT_CARDS = {"id": "no-gift-cards", "multiplier": 0, "match": {"category": ["gift_card"]}}


def test_without_rules_a_purchase_earns_the_plain_formula_whatever_its_items():
    plain = policy()
    cmd = buy("10.79", ("A", "meat", 3, "1.00"), ("B", None, 1, "99.99"))
    assert plain.earn(cmd, PEARL, EarningPast()).points == 13  # floor(10.79 x 1.25)
    assert plain.earn(cmd, PEARL, EarningPast()).rules == ()


def test_lines_are_the_items_scaled_to_the_amount_in_whole_cents():
    items = (PurchaseLine("A", None, 1, Decimal("1.00")),) * 3
    assert [line.amount for line in lines_of(Decimal("10.00"), items)] == [
        Decimal("3.34"), Decimal("3.33"), Decimal("3.33"),
    ]  # fmt: skip
    # Items that sum to more than the amount (a discount) are scaled down...
    two = (PurchaseLine("A", "x", 1, Decimal("30.00")), PurchaseLine("B", "y", 1, Decimal("10.00")))
    assert [line.amount for line in lines_of(Decimal("20.00"), two)] == [
        Decimal("15.00"), Decimal("5.00"),
    ]  # fmt: skip
    # ...no items, or only free ones, is one line of the whole amount.
    assert lines_of(Decimal("5.00"), ()) == lines_of(
        Decimal("5.00"), (PurchaseLine("F", "free", 2, Decimal("0.00")),)
    )
    (only,) = lines_of(Decimal("5.00"), ())
    assert (only.sku, only.category, only.amount) == (None, None, Decimal("5.00"))


def test_a_line_rule_multiplies_its_lines_on_top_of_the_tier_inside_its_window():
    rules = policy(MEAT_3X)
    cmd = buy("100.00", ("TURKEY", "meat", 1, "60.00"), ("MILK", "dairy", 1, "40.00"))
    earned = rules.earn(cmd, RUBY, EarningPast())
    assert earned.points == 60 * 3 * 1.5 + 40 * 1.5  # 330
    assert earned.rules == ("meat-3x",)
    assert earned.extras == {"meat-3x": Decimal("180.00")}  # 60 x 1.5 x (3 - 1)
    # `from` is inclusive, `until` exclusive.
    at_until = rules.earn(buy("100.00", ("T", "meat", 1, "1"), at=T0 + timedelta(days=7)),
                          OPAL, EarningPast())  # fmt: skip
    assert (at_until.points, at_until.rules) == (100, ())
    just_before = T0 + timedelta(days=7) - timedelta(microseconds=1)
    assert rules.earn(buy("100.00", ("T", "meat", 1, "1"), at=just_before), OPAL,
                      EarningPast()).points == 300  # fmt: skip
    assert rules.earn(buy("100.00", ("T", "meat", 1, "1"), at=T0 - timedelta(microseconds=1)),
                      OPAL, EarningPast()).points == 100  # fmt: skip


def test_an_exclusion_wins_over_any_multiplier_and_earns_nothing():
    rules = policy(MEAT_3X, {"id": "no-meat-at-s9", "multiplier": 0, "match": {"store": ["s9"]}})
    cmd = buy("50.00", ("TURKEY", "meat", 1, "50.00"), store="s9")
    earned = rules.earn(cmd, DIAMOND, EarningPast())
    assert earned.points == 0
    assert earned.rules == ("no-meat-at-s9",)


def test_the_highest_multiplier_applies_and_the_first_listed_on_a_tie():
    rules = policy({"id": "a", "multiplier": "2", "match": {"sku": ["X"]}},
                   {"id": "b", "multiplier": "4", "match": {"category": ["c"]}},
                   {"id": "c", "multiplier": "4"})  # fmt: skip
    assert rules.earn(buy("10.00", ("X", "c", 1, "1")), OPAL, EarningPast()).rules == ("b",)
    assert rules.earn(buy("10.00", ("X", "c", 1, "1")), OPAL, EarningPast()).points == 40


def test_tier_conditions_read_the_tier_held_just_before():
    rules = policy({"id": "vip", "multiplier": "2", "tiers": ["ruby", "diamond"]})
    assert rules.earn(buy("10.00"), PEARL, EarningPast()).points == 12  # 10 x 1.25
    assert rules.earn(buy("10.00"), RUBY, EarningPast()).points == 30  # 10 x 1.5 x 2


def test_purchase_rules_add_fixed_bonuses_not_multiplied_by_the_tier():
    rules = policy(
        {"id": "welcome", "bonus": 50, "first_purchase": True},
        {"id": "big-basket", "bonus": 25, "min_amount": "100.00"},
        {"id": "store-7", "bonus": 5, "stores": ["s7"]},
        {"id": "returning", "bonus": 1, "first_purchase": False},
    )
    first = rules.earn(buy("100.00"), DIAMOND, EarningPast(first_purchase=True))
    assert first.points == 200 + 50 + 25
    assert first.rules == ("welcome", "big-basket")
    later = rules.earn(buy("99.99", store="s7"), OPAL, EarningPast(first_purchase=False))
    assert later.points == 99 + 5 + 1  # floor(99.99 + 6)
    assert later.rules == ("store-7", "returning")


def test_a_cap_bounds_what_a_rule_adds_over_its_rolling_window():
    capped = {"id": "big", "bonus": 30, "min_amount": "10", "cap_points": 50, "cap_days": 7}
    rules = policy(capped)
    past = EarningPast(False, [(T0 - timedelta(days=7), {"big": Decimal(30)}),  # left the window
                               (T0 - timedelta(days=6), {"big": Decimal(30)})])  # fmt: skip
    assert rules.earn(buy("10.00"), OPAL, past).extras == {"big": Decimal(20)}  # 50 - 30
    # Reached exactly: nothing more, and the rule is not listed.
    full = EarningPast(False, [(T0 - timedelta(days=1), {"big": Decimal(50)})])
    reached = rules.earn(buy("10.00"), OPAL, full)
    assert (reached.points, reached.rules) == (10, ())
    # A line rule's cap bounds its extra over multiplier 1; the line keeps its base.
    lines = policy({**MEAT_3X, "cap_points": 100, "cap_days": 30})
    earned = lines.earn(buy("100.00", ("T", "meat", 1, "1")), OPAL, EarningPast())
    assert (earned.points, earned.extras) == (200, {"meat-3x": Decimal(100)})


def test_sums_are_exact_and_floored_once():
    # Three lines of 3.33-3.34 at 1.5 each lose a fraction; summed first, they lose less.
    rules = policy({"id": "x", "multiplier": "1.5"})
    items = (PurchaseLine("A", None, 1, Decimal("1")),) * 3
    assert rules.earn(buy("10.00", *[(i.sku, None, 1, "1") for i in items]), OPAL,
                      EarningPast()).points == 15  # fmt: skip


# --- against the reference -----------------------------------------------------------

SKUS, CATEGORIES, STORES = ["A", "B", "C"], ["meat", "gift_card", None], ["s1", "s2"]
moments = st.integers(-10, 10).map(lambda d: T0 + timedelta(days=d))
maybe_list = lambda pool: st.none() | st.lists(st.sampled_from(pool), min_size=1, max_size=2,  # noqa: E731
                                               unique=True)  # fmt: skip


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    starts, until = draw(st.none() | moments), draw(st.none() | moments)
    if starts is not None and until is not None and until <= starts:
        until = starts + timedelta(days=1)
    out: dict[str, Any] = {}
    if starts is not None:
        out["from"] = starts.isoformat()
    if until is not None:
        out["until"] = until.isoformat()
    tiers = draw(maybe_list([lv.name for lv in LEVELS]))
    if tiers:
        out["tiers"] = tiers
    return out


@st.composite
def rule_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 5))):
        rule: dict[str, Any] = {"id": f"r{n}", **draw(windows())}
        if draw(st.booleans()):
            m = draw(st.sampled_from(["0", "0.5", "1", "1.5", "2", "3.25"]))
            match = {k: v for k, v in (("sku", draw(maybe_list(SKUS))),
                                       ("category", draw(maybe_list(["meat", "gift_card"]))),
                                       ("store", draw(maybe_list(STORES)))) if v}  # fmt: skip
            rule |= {"multiplier": m, "match": match}
            capped = Decimal(m) > 1 and draw(st.booleans())
        else:
            rule["bonus"] = draw(st.integers(1, 80))
            for key, value in (("min_amount", draw(st.none() | st.sampled_from(["5", "20.50"]))),
                               ("first_purchase", draw(st.none() | st.booleans())),
                               ("stores", draw(maybe_list(STORES)))):  # fmt: skip
                if value is not None:
                    rule[key] = value
            capped = draw(st.booleans())
        if capped:
            rule |= {"cap_points": draw(st.integers(1, 120)), "cap_days": draw(st.integers(1, 9))}
        rules.append(rule)
    return rules


@st.composite
def purchases(draw: st.DrawFn) -> RecordPurchase:
    items = tuple(
        PurchaseLine(draw(st.sampled_from(SKUS)), draw(st.sampled_from(CATEGORIES)),
                     draw(st.integers(1, 4)), Decimal(draw(st.integers(0, 5000))) / 100)
        for _ in range(draw(st.integers(0, 4)))
    )  # fmt: skip
    amount = Decimal(draw(st.integers(1, 20_000))) / 100
    return RecordPurchase("p", "m", draw(st.sampled_from(STORES)), amount, "USD",
                          draw(moments), "e", items)  # fmt: skip


@dataclass
class Member:
    """A member's purchases through the policy, their past kept as the ledger keeps it."""

    first: bool = True
    given: list[tuple[datetime, dict[str, Decimal]]] | None = None


@settings(max_examples=300, deadline=None)
@given(rule_sets(), st.lists(st.tuples(purchases(), st.sampled_from(LEVELS)), min_size=1,
                             max_size=6), st.sampled_from(["1", "2.5"]))  # fmt: skip
def test_any_rules_and_history_earn_what_the_reference_computes(rules, bought, ppu):
    prog = programme(*rules, points_per_unit=ppu)
    policy_ = EarningPolicy(prog.versions[0])
    given_: list[tuple[datetime, dict[str, Decimal]]] = []
    ref_given: list[tuple[datetime, dict[str, Fraction]]] = []
    first = True
    for cmd, tier in bought:
        earned = policy_.earn(cmd, tier, EarningPast(first, list(given_)))
        points, added = reference_points(prog, cmd, tier, first, ref_given)
        assert earned.points == points
        assert {k: Fraction(v) for k, v in earned.extras.items()} == added
        assert set(earned.rules) == set(added)
        if not rules:
            assert points == policy_.points_for(cmd.amount, tier.multiplier)
        given_.append((cmd.occurred_at, dict(earned.extras)))
        ref_given.append((cmd.occurred_at, added))
        first = False
    # No capped rule ever gave more than its cap in a window ending at a purchase.
    for rule in prog.earning.rules:
        if rule.cap_points is None:
            continue
        for at, _ in given_:
            window = [g.get(rule.id, 0) for t, g in given_
                      if at - timedelta(days=rule.cap_days or 0) < t <= at]  # fmt: skip
            assert sum(x for x in window if x > 0) <= rule.cap_points


@given(purchases())
def test_the_lines_always_sum_to_the_amount(cmd):
    lines = lines_of(cmd.amount, cmd.items)
    assert sum(line.amount for line in lines) == cmd.amount
    assert all(line.amount >= 0 for line in lines)
    assert [(line.sku, line.category, int(line.amount * 100)) for line in lines] == (
        reference_lines(cmd.amount, cmd.items)
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "x", "multiplier": "-1"}, "greater than or equal to 0"),
        ({"id": "x", "bonus": 5, "cap_points": 10}, "cap_points and cap_days go together"),
        (
            {
                "id": "x",
                "multiplier": "2",
                "from": "2026-01-02T00:00:00Z",
                "until": "2026-01-01T00:00:00Z",
            },
            "must be after from",
        ),
        ({"id": "x", "multiplier": "1", "cap_points": 5, "cap_days": 2}, "gives none"),
        ({"id": "x", "bonus": 5, "tiers": ["gold"]}, "names tiers the programme lacks: gold"),
        ({"id": "x"}, "either `multiplier`"),
        ({"id": "x", "multiplier": 2, "bonus": 3}, "either `multiplier`"),
        ({"id": "x", "bonus": 5, "from": "2026-01-01T00:00:00"}, "timezone"),
    ],
)
def test_a_bad_rule_is_refused_with_what_is_wrong(rule, message):
    with pytest.raises(ValueError, match=message):
        programme(rule)


def test_rule_ids_name_one_rule_each_and_unknown_categories_are_fine():
    with pytest.raises(ValueError, match="used twice"):
        programme({"id": "x", "bonus": 1}, {"id": "x", "multiplier": 2})
    assert programme({"id": "x", "multiplier": 2, "match": {"category": ["not-sold-yet"]}})
