"""The programme's parameters, with the default programme built in (docs/contracts/programme.md)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from loyalty_kernel.programme.rules import EarningRuleSpec, LineRule, PurchaseRule


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TierLevel(_Frozen):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    threshold: Annotated[Decimal, Field(ge=0)]
    multiplier: Annotated[Decimal, Field(gt=0, le=100)]


class TierSettings(_Frozen):
    window_days: Annotated[int, Field(ge=1, le=3660)] = 7
    hold_days: Annotated[int, Field(ge=0, le=3660)] = 28
    levels: tuple[TierLevel, ...] = (
        TierLevel(name="opal", threshold=Decimal("0"), multiplier=Decimal("1.0")),
        TierLevel(name="pearl", threshold=Decimal("20"), multiplier=Decimal("1.25")),
        TierLevel(name="ruby", threshold=Decimal("50"), multiplier=Decimal("1.5")),
        TierLevel(name="diamond", threshold=Decimal("100"), multiplier=Decimal("2.0")),
    )

    @field_validator("levels")
    @classmethod
    def _ordered_from_zero(cls, levels: tuple[TierLevel, ...]) -> tuple[TierLevel, ...]:
        if not levels:
            raise ValueError("at least one tier is needed")
        if levels[0].threshold != 0:
            raise ValueError("the first (lowest) tier must have threshold 0: every member holds it")
        thresholds = [level.threshold for level in levels]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tier thresholds must rise strictly from the lowest tier up")
        names = [level.name for level in levels]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        return levels

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def hold(self) -> timedelta:
        return timedelta(days=self.hold_days)


class EarningSettings(_Frozen):
    points_per_unit: Annotated[Decimal, Field(gt=0, le=1000, decimal_places=4)] = Decimal("1")
    rules: tuple[EarningRuleSpec, ...] = ()

    @field_validator("rules")
    @classmethod
    def _ids_unique(
        cls, rules: tuple[LineRule | PurchaseRule, ...]
    ) -> tuple[LineRule | PurchaseRule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice: ids name one rule each")
            seen.add(rule.id)
        return rules

    @property
    def line_rules(self) -> tuple[LineRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, LineRule))

    @property
    def purchase_rules(self) -> tuple[PurchaseRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, PurchaseRule))

    @property
    def longest_cap(self) -> timedelta:
        """How far back a purchase can still count against a cap."""
        return max((r.cap for r in self.rules if r.cap is not None), default=timedelta(0))


class ProgrammeVersion(_Frozen):
    """What may change from one version of a programme to the next: how purchases earn.
    `effective_from` None: in force since always (only the first version)."""

    version: str
    effective_from: AwareDatetime | None
    earning: EarningSettings


class PointsLifecycle(_Frozen):
    """How points live (docs/contracts/programme.md, "Points lifecycle"): each purchase's
    points form a lot, pending for a while, then spendable until they expire."""

    pending_days: Annotated[int, Field(ge=0, le=3660)] = 7  # 0: spendable at once
    expire_after_days: Annotated[int, Field(ge=0, le=36600)] = 365  # 0: never expire
    expiring_soon_days: Annotated[int, Field(ge=0, le=3660)] = 30  # 0: no warning
    # What one point is worth to the member, for the liability report (currency units).
    point_value: Annotated[Decimal, Field(ge=0, le=1000, decimal_places=4)] = Decimal("0.15")

    @model_validator(mode="after")
    def _vests_before_expiring(self) -> PointsLifecycle:
        if self.expire_after_days and self.pending_days >= self.expire_after_days:
            raise ValueError(
                f"pending_days ({self.pending_days}) must be shorter than expire_after_days "
                f"({self.expire_after_days}): points would expire before they could be spent"
            )
        if self.expire_after_days and self.expiring_soon_days >= self.expire_after_days:
            raise ValueError(
                f"expiring_soon_days ({self.expiring_soon_days}) must be shorter than "
                f"expire_after_days ({self.expire_after_days})"
            )
        return self

    @cached_property
    def pending(self) -> timedelta:
        return timedelta(days=self.pending_days)

    @cached_property
    def expire_after(self) -> timedelta | None:
        return timedelta(days=self.expire_after_days) if self.expire_after_days else None

    @cached_property
    def expiring_soon(self) -> timedelta | None:
        return timedelta(days=self.expiring_soon_days) if self.expiring_soon_days else None


class SeverityBands(_Frozen):
    """Risk scores at or above each bound get that severity; below `low`, no alert.

    An open alert keeps its band until its score falls `hysteresis` below the band's
    bound, so a score wobbling across a bound moves the alert once, not at every
    purchase."""

    low: Annotated[float, Field(gt=0, lt=1)] = 0.5
    medium: Annotated[float, Field(gt=0, lt=1)] = 0.7
    high: Annotated[float, Field(gt=0, lt=1)] = 0.85
    hysteresis: Annotated[float, Field(ge=0, lt=1)] = 0.05

    @model_validator(mode="after")
    def _rising(self) -> SeverityBands:
        if not self.low < self.medium < self.high:
            raise ValueError("severity bands must rise: low < medium < high")
        narrowest = min(self.low, self.medium - self.low, self.high - self.medium)
        if self.hysteresis >= narrowest:
            raise ValueError(
                f"hysteresis {self.hysteresis} must be narrower than every band "
                f"(the narrowest is {narrowest:.3g} wide)"
            )
        return self

    def bound(self, severity: str) -> float:
        return {"low": self.low, "medium": self.medium, "high": self.high}[severity]


class ChurnSettings(_Frozen):
    """The churn watch's thresholds (docs/churn-watch.md)."""

    # A customer is lost this long after their last purchase (retail: 6 months); the
    # risk score is the probability of no purchase within this horizon.
    horizon_days: Annotated[int, Field(ge=1, le=3660)] = 180
    lapsed_days: Annotated[int, Field(ge=1, le=3660)] = 180
    overdue_gap_multiple: Annotated[Decimal, Field(gt=1, le=100)] = Decimal("2")
    overdue_min_purchases: Annotated[int, Field(ge=3, le=1000)] = 3
    period_days: Annotated[int, Field(ge=1, le=3660)] = 90
    migration_ratio: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.5")
    # Average basket of the last period over the average basket before it.
    basket_ratio: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.6")
    basket_min_purchases: Annotated[int, Field(ge=1, le=1000)] = 2
    # Share of the last period's spend refunded, when it is also above the share before.
    refund_share: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.25")
    refund_min_count: Annotated[int, Field(ge=1, le=1000)] = 2
    downgrade_days: Annotated[int, Field(ge=1, le=3660)] = 90
    # Without new facts, a member is re-scored this often (event time) until high or lost.
    rescore_days: Annotated[int, Field(ge=1, le=365)] = 7
    # Value at risk: the spend a retained member would bring over these years, and
    # what one point cost the retailer when it was redeemed.
    value_years: Annotated[Decimal, Field(gt=0, le=50)] = Decimal("3")
    point_value: Annotated[Decimal, Field(ge=0, le=1000)] = Decimal("0.15")
    severity: SeverityBands = SeverityBands()

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.horizon_days)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.period_days)


class Programme(_Frozen):
    """Everything a retailer tunes without touching code."""

    name: str = "default"
    # This file's version of the programme, and from when (event time) it earns.
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] = "1"
    effective_from: AwareDatetime | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    # How far ahead of the receiving process's clock a purchase or refund may be
    # stamped (a till's clock runs a little fast); later than that it is refused.
    max_future_seconds: Annotated[int, Field(ge=0, le=366 * 86_400)] = 300
    earning: EarningSettings = EarningSettings()
    points: PointsLifecycle = PointsLifecycle()
    tiers: TierSettings = TierSettings()
    churn: ChurnSettings = ChurnSettings()
    # Set by the loader for a folder of versions: every version, earliest first. Empty
    # for one file, which is then the only version.
    history: tuple[ProgrammeVersion, ...] = ()

    @model_validator(mode="after")
    def _rule_tiers_known(self) -> Programme:
        names = {level.name for level in self.tiers.levels}
        for rule in self.earning.rules:
            unknown = sorted(set(rule.tiers or ()) - names)
            if unknown:
                raise ValueError(
                    f"earning rule {rule.id!r} names tiers the programme lacks: "
                    f"{', '.join(unknown)} (tiers: {', '.join(sorted(names))})"
                )
        return self

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.max_future_seconds)

    @cached_property
    def versions(self) -> tuple[ProgrammeVersion, ...]:
        """Every version of how purchases earn, earliest first."""
        own = ProgrammeVersion(
            version=self.version, effective_from=self.effective_from, earning=self.earning
        )
        return self.history or (own,)

    @cached_property
    def _starts(self) -> list[datetime]:
        return [v.effective_from for v in self.versions[1:] if v.effective_from is not None]

    def version_at(self, at: datetime) -> ProgrammeVersion:
        """The version in force at `at`: the latest whose `effective_from` is at or
        before it. Before the first version's start, the first (a purchase always earns
        under some version)."""
        return self.versions[bisect_right(self._starts, at)]

    @property
    def asks_first_purchase(self) -> bool:
        """Whether a rule of any version depends on the member's first purchase."""
        return any(r.first_purchase is not None for v in self.versions
                   for r in v.earning.purchase_rules)  # fmt: skip

    @property
    def lookback(self) -> timedelta:
        """How far back the earning rules of any version look (caps)."""
        return max(v.earning.longest_cap for v in self.versions)
