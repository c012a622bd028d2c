"""Request and response bodies of the rewards API (separate from tables and events).
Bodies accept only their declared fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from loyalty_kernel.events.envelope import EventTime, Identifier
from loyalty_kernel.events.money import Money
from loyalty_platform.http import WHOLE_NUMBER
from loyalty_rewards.adapters.reward_fields import (
    Description,
    Name,
    PeriodDays,
    Positive,
    RewardEntry,
    TierName,
    VoucherValue,
)
from loyalty_rewards.domain.catalog import MAX_STOCK, Reward, RewardKind
from loyalty_rewards.domain.redemption import Redemption
from loyalty_rewards.service_layer.cataloguing import Problem


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A new reward takes what a catalog file's entry does. No docstring: the published
# schema has no description.
class RewardIn(RewardEntry):
    pass


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
    coupon_code: str | None  # shown to the member who owns it only (null to ops)
    created_at: datetime


def reward_out(reward: Reward) -> dict[str, Any]:
    return {name: getattr(reward, name) for name in RewardOut.model_fields}


def redemption_body(redemption: Redemption) -> dict[str, Any]:
    """A redemption as the API shows it, in `RedemptionOut`'s order."""
    return {
        "redemption_id": redemption.redemption_id,
        "member_id": redemption.member_id,
        "reward_id": redemption.reward_id,
        "points": redemption.points,
        "status": redemption.status.value,
        "coupon_code": redemption.coupon_code,
        "created_at": redemption.created_at.isoformat().replace("+00:00", "Z"),
    }


def invalid_fields(reward: Reward) -> list[Problem]:
    """What breaks the rules of a new reward in this one (a reward as changed)."""
    try:
        RewardIn.model_validate(reward_out(reward))
    except ValidationError as exc:
        return [
            Problem(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors(include_url=False)
        ]
    return []
