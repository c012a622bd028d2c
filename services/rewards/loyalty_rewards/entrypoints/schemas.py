"""Request and response bodies of the rewards API (separate from tables and events).
Bodies accept only their declared fields."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from loyalty_kernel.events.envelope import EventTime, Identifier
from loyalty_kernel.events.money import Money
from loyalty_platform.http import NO_NUL, WHOLE_NUMBER
from loyalty_rewards.domain.catalog import Reward, RewardKind

MAX_STOCK = 10_000_000
Count = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK), WHOLE_NUMBER]
Positive = Annotated[StrictInt, Field(ge=1, le=1_000_000_000), WHOLE_NUMBER]
# Field types shared by a new reward and a change to one.
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Description = Annotated[str, Field(max_length=2000, pattern=NO_NUL)]
TierName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
PeriodDays = Annotated[StrictInt, Field(ge=1, le=3660), WHOLE_NUMBER]
VoucherValue = Annotated[Decimal, Field(gt=0, le=100_000, decimal_places=2)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardFields(_Body):
    """What an admin may set on a reward; every rule between fields is checked here."""

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


class RewardIn(RewardFields):
    reward_id: Identifier

    def to_reward(self) -> Reward:
        return Reward(**self.model_dump(exclude={"active"}), active=self.active)


class RewardPatch(_Body):
    """Fields to change; the result must still be a valid reward."""

    name: Name | None = None
    description: Description | None = None
    points_cost: Positive | None = None
    min_tier: TierName | None = None
    limit_per_member: Positive | None = None
    limit_period_days: PeriodDays | None = None
    available_from: EventTime | None = None
    available_until: EventTime | None = None
    voucher_value: VoucherValue | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Restock(_Body):
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_STOCK), WHOLE_NUMBER]


class RewardOut(BaseModel):
    reward_id: str
    name: str
    description: str
    kind: RewardKind
    points_cost: int
    stock: int | None
    min_tier: str | None
    limit_per_member: int | None
    limit_period_days: int | None
    available_from: datetime | None
    available_until: datetime | None
    voucher_value: Money | None
    active: bool


class Reason(BaseModel):
    code: str
    message: str


class OfferOut(RewardOut):
    """A reward as one member sees it now."""

    redeemable: bool
    reason: Reason | None  # why not, when not


class CatalogOut(BaseModel):
    member_id: str | None
    rewards: list[OfferOut] | list[RewardOut]


class RedemptionRequest(_Body):
    reward_id: Identifier


class RedemptionOut(BaseModel):
    redemption_id: str
    member_id: str
    reward_id: str
    points: int
    status: str
    coupon_code: str | None  # only ever shown to the member who owns it
    created_at: datetime


def reward_out(reward: Reward) -> dict[str, Any]:
    return {name: getattr(reward, name) for name in RewardOut.model_fields}
