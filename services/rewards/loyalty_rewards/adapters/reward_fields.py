"""A reward as it is written outside the service, in the admin API's bodies and in the
catalog file: each field's bounds and the rules between fields, written once here."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from loyalty_kernel.events.envelope import EventTime, Identifier
from loyalty_platform.http import NO_NUL, WHOLE_NUMBER
from loyalty_rewards.domain.catalog import MAX_STOCK, Reward, RewardKind

Count = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK), WHOLE_NUMBER]
Positive = Annotated[StrictInt, Field(ge=1, le=1_000_000_000), WHOLE_NUMBER]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
TierName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PeriodDays = Annotated[StrictInt, Field(ge=1, le=3660), WHOLE_NUMBER]
VoucherValue = Annotated[Decimal, Field(gt=0, le=100_000, decimal_places=2)]


class RewardFields(BaseModel):
    """What an admin may set on a reward; every rule between fields is checked here."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    kind: RewardKind
    points_cost: Positive
    stock: Count | None = None
    min_tier: TierName | None = None
    limit_per_member: Positive | None = None
    limit_period_days: PeriodDays | None = None
    available_from: EventTime | None = None
    available_until: EventTime | None = None
    voucher_value: VoucherValue | None = None
    active: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.limit_per_member is None) != (self.limit_period_days is None):
            raise ValueError("limit_per_member and limit_period_days go together")
        if (
            self.available_from
            and self.available_until
            and self.available_until <= self.available_from
        ):
            raise ValueError("available_until must be after available_from")
        if (self.kind is RewardKind.VOUCHER) != (self.voucher_value is not None):
            raise ValueError("voucher_value is required for a voucher, and only for one")
        return self


class RewardEntry(RewardFields):
    """A whole reward, named by its id."""

    reward_id: Identifier

    def to_reward(self) -> Reward:
        return Reward(**self.model_dump(exclude={"active"}), active=self.active)
