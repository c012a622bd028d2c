"""The programme's parameters, with the defaults of DESIGN.md section 5 built in."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
    points_per_unit: Annotated[Decimal, Field(gt=0, le=1000)] = Decimal("1")


class Programme(_Frozen):
    """Everything a retailer tunes without touching code."""

    name: str = "default"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    earning: EarningSettings = EarningSettings()
    tiers: TierSettings = TierSettings()
