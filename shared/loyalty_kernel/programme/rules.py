"""Earning rules as a programme file writes them (docs/contracts/programme.md,
"Earning rules"): line rules that multiply what some lines earn, purchase rules that
add a fixed bonus, either with a cap per member over a rolling window.

These are the rules' shape and validation only; `earning.py` applies them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
# What a rule may name: skus, categories, stores. Unknown names are fine: a rule for a
# category no till sends yet simply matches nothing.
Names = Annotated[tuple[Annotated[str, Field(min_length=1, max_length=128)], ...],
                  Field(min_length=1, max_length=10_000)]  # fmt: skip
MAX_MULTIPLIER = Decimal(100)
MAX_BONUS = 1_000_000


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: RuleId
    tiers: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    starts: AwareDatetime | None = Field(None, alias="from")  # inclusive, event time
    until: AwareDatetime | None = None  # exclusive
    cap_points: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    cap_days: Annotated[int, Field(ge=1, le=3660)] | None = None

    @model_validator(mode="after")
    def _window_and_cap(self) -> _Rule:
        if self.starts is not None and self.until is not None and self.until <= self.starts:
            raise ValueError(
                f"until ({self.until.isoformat()}) must be after from ({self.starts.isoformat()})"
            )
        if (self.cap_points is None) != (self.cap_days is None):
            raise ValueError("cap_points and cap_days go together: a cap needs both")
        return self

    @property
    def cap(self) -> timedelta | None:
        return None if self.cap_days is None else timedelta(days=self.cap_days)

    def in_force(self, at: datetime) -> bool:
        return (self.starts is None or self.starts <= at) and (
            self.until is None or at < self.until
        )

    def for_tier(self, tier: str) -> bool:
        return self.tiers is None or tier in self.tiers


class RuleMatch(BaseModel):
    """Which lines a line rule is about: every list given must name the line's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Names | None = None
    category: Names | None = None
    store: Names | None = None


class LineRule(_Rule):
    """Lines it matches earn at `multiplier` (0 excludes them) instead of 1."""

    match: RuleMatch = RuleMatch()
    multiplier: Annotated[Decimal, Field(ge=0, le=MAX_MULTIPLIER, decimal_places=4)]

    @model_validator(mode="after")
    def _cap_needs_extra(self) -> LineRule:
        if self.cap_points is not None and self.multiplier <= 1:
            raise ValueError(
                f"a cap bounds the extra points a rule gives; multiplier {self.multiplier} "
                "gives none"
            )
        return self

    def matches(self, sku: str | None, category: str | None, store: str) -> bool:
        m = self.match
        return (
            (m.sku is None or sku in m.sku)
            and (m.category is None or category in m.category)
            and (m.store is None or store in m.store)
        )


class PurchaseRule(_Rule):
    """A purchase meeting every condition given earns `bonus` points more (not
    multiplied by the tier)."""

    bonus: Annotated[int, Field(ge=1, le=MAX_BONUS)]
    min_amount: Annotated[Decimal, Field(ge=0, decimal_places=2)] | None = None
    first_purchase: bool | None = None  # True: only the member's first; False: never it
    stores: Names | None = None


def _kind(raw: Any) -> str | None:
    fields = raw if isinstance(raw, dict) else vars(raw)
    line, bonus = "multiplier" in fields, "bonus" in fields
    if line == bonus:
        return None  # both or neither: the error below says so
    return "line" if line else "purchase"


EarningRuleSpec = Annotated[
    Annotated[LineRule, Tag("line")] | Annotated[PurchaseRule, Tag("purchase")],
    Discriminator(
        _kind,
        custom_error_type="rule_kind",
        custom_error_message=(
            "a rule has either `multiplier` (a line rule) or `bonus` (a purchase rule)"
        ),
    ),
]
