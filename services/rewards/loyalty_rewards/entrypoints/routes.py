"""The rewards REST API: what a member can redeem, redeeming and cancelling, and the
catalog admin endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_platform.access import Allow, limit
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, error_responses
from loyalty_rewards.bootstrap import RewardsService
from loyalty_rewards.entrypoints.schemas import (
    MAX_STOCK,
    CatalogOut,
    OfferOut,
    Reason,
    RedemptionOut,
    RedemptionRequest,
    Restock,
    RewardIn,
    RewardOut,
    RewardPatch,
    reward_out,
)
from loyalty_rewards.service_layer.redeeming import KeyReused, redemption_body

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
BROWSE = Allow(member="own", scope="rewards:read")
REDEEM = Allow(member="own", scope="rewards:redeem")
# Cancelling gives points back, so it is for ops: a member could otherwise use a
# coupon at the till and then cancel its redemption.
CANCEL = Allow(scope="rewards:redeem")
ADMIN = Allow(scope="catalog:admin")
RewardId = Annotated[str, Path(pattern=ID_PATTERN)]
RedemptionId = Annotated[str, Path(pattern=r"^rd-[0-9a-f]{32}$")]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]
REFUSALS = error_responses(404, 409, 422, 503)


def _service(request: Request) -> RewardsService:
    return request.app.state.service  # type: ignore[no-any-return]


@router.get(
    "/rewards",
    response_model=CatalogOut,
    responses=error_responses(404),
    dependencies=[Depends(BROWSE)],
)
async def get_rewards(
    request: Request,
    member_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> CatalogOut:
    """The catalog; with `member_id`, each reward says whether that member can redeem
    it now and, if not, why (tier, window, limit, stock, balance)."""
    redeeming = _service(request).redeeming
    if member_id is None:
        async with redeeming.uow() as uow:
            rewards = await uow.catalog.all()
        return CatalogOut(member_id=None, rewards=[RewardOut(**reward_out(r)) for r in rewards])
    offers = await redeeming.offers(member_id)
    return CatalogOut(
        member_id=member_id,
        rewards=[
            OfferOut(
                **reward_out(r),
                redeemable=why is None,
                reason=None if why is None else Reason(code=why.code, message=why.message),
            )
            for r, why in offers
        ],
    )


@router.post(
    "/members/{member_id}/redemptions",
    status_code=201,
    response_model=RedemptionOut,
    responses=REFUSALS,
    dependencies=[Depends(REDEEM)],
)
async def post_redemption(
    member_id: MemberId, body: RedemptionRequest, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Redeem a reward. The same `Idempotency-Key` with the same body gives the same
    answer, also after a restart; with another body, a 422."""
    service = _service(request)
    limit(request, service.redemption_attempts, member_id, "redemptions_over_limit")
    redeeming = service.redeeming
    try:
        answer = await redeeming.redeem(member_id, body.reward_id, key, body.model_dump())
    except KeyReused as reused:
        raise ApiError(422, "idempotency_key_reused", str(reused)) from reused
    return JSONResponse(answer.body, status_code=answer.status)


@router.get(
    "/members/{member_id}/redemptions",
    response_model=list[RedemptionOut],
    responses=error_responses(404),
    dependencies=[Depends(BROWSE)],
)
async def get_redemptions(
    member_id: MemberId, request: Request, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[RedemptionOut]:
    """The member's redemptions, newest first, with their coupon codes."""
    async with _service(request).redeeming.uow() as uow:
        found = await uow.redemptions.of_member(member_id, limit)
    return [RedemptionOut(**redemption_body(r)) for r in found]


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionOut,
    responses=REFUSALS,
    dependencies=[Depends(CANCEL)],
)
async def post_cancel(redemption_id: RedemptionId, request: Request) -> JSONResponse:
    """Cancel a redemption: its points come back (`loyalty.points.restored.v1`), and its
    stock. Asked again, the same answer."""
    answer = await _service(request).redeeming.cancel(redemption_id)
    if answer.status == 201:
        return JSONResponse(answer.body, status_code=200)
    return JSONResponse(answer.body, status_code=answer.status)


# Catalog admin.


@router.post(
    "/admin/rewards",
    status_code=201,
    response_model=RewardOut,
    responses=error_responses(409),
    dependencies=[Depends(ADMIN)],
)
async def create_reward(body: RewardIn, request: Request) -> RewardOut:
    service = _service(request)
    _check_tier(service, body.min_tier)
    async with service.redeeming.uow() as uow:
        created = await uow.catalog.add(body.to_reward())
        await uow.commit()
    if not created:
        raise ApiError(409, "reward_exists", f"a reward {body.reward_id} exists")
    return RewardOut(**reward_out(body.to_reward()))


@router.patch(
    "/admin/rewards/{reward_id}",
    response_model=RewardOut,
    responses=error_responses(404),
    dependencies=[Depends(ADMIN)],
)
async def update_reward(reward_id: RewardId, body: RewardPatch, request: Request) -> RewardOut:
    service = _service(request)
    async with service.redeeming.uow() as uow:
        current = await uow.catalog.get(reward_id)
        if current is None:
            raise ApiError(404, "unknown_reward", f"no reward {reward_id}")
        try:  # every rule between fields, on the result
            merged = RewardIn.model_validate(
                reward_out(current) | body.changes() | {"reward_id": reward_id}
            )
        except ValidationError as exc:
            problems = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]}
                        for e in exc.errors(include_url=False)]  # fmt: skip
            raise ApiError(422, "invalid_reward", "the change would make the reward invalid",
                           problems) from exc  # fmt: skip
        _check_tier(service, merged.min_tier)
        changed = await uow.catalog.change(reward_id, **body.changes())
        await uow.commit()
    assert changed is not None
    return RewardOut(**reward_out(changed))


@router.post(
    "/admin/rewards/{reward_id}/deactivate",
    response_model=RewardOut,
    responses=error_responses(404),
    dependencies=[Depends(ADMIN)],
)
async def deactivate_reward(reward_id: RewardId, request: Request) -> RewardOut:
    return await _change(request, reward_id, active=False)


@router.post(
    "/admin/rewards/{reward_id}/restock",
    response_model=RewardOut,
    responses=error_responses(404, 409),
    dependencies=[Depends(ADMIN)],
)
async def restock_reward(reward_id: RewardId, body: Restock, request: Request) -> RewardOut:
    async with _service(request).redeeming.uow() as uow:
        current = await uow.catalog.get(reward_id)
        if current is None:
            raise ApiError(404, "unknown_reward", f"no reward {reward_id}")
        if current.stock is None:
            raise ApiError(409, "stock_not_counted", f"{reward_id} has no counted stock")
        if current.stock + body.quantity > MAX_STOCK:
            raise ApiError(409, "stock_limit", f"stock cannot go above {MAX_STOCK:,}")
        changed = await uow.catalog.restock(reward_id, body.quantity)
        await uow.commit()
    assert changed is not None
    return RewardOut(**reward_out(changed))


async def _change(request: Request, reward_id: str, **changes: Any) -> RewardOut:
    async with _service(request).redeeming.uow() as uow:
        changed = await uow.catalog.change(reward_id, **changes)
        await uow.commit()
    if changed is None:
        raise ApiError(404, "unknown_reward", f"no reward {reward_id}")
    return RewardOut(**reward_out(changed))


def _check_tier(service: RewardsService, tier: str | None) -> None:
    names = [level.name for level in service.redeeming.policy.levels]
    if tier is not None and tier not in names:
        raise ApiError(422, "unknown_tier", f"min_tier must be one of {', '.join(names)}",
                       [{"field": "body.min_tier", "problem": "not a tier of the programme"}])  # fmt: skip
