"""The rewards REST API for members and ops: what a member can redeem, redeeming and
cancelling. The service layer's outcomes become answers here."""

from __future__ import annotations

from typing import Annotated, assert_never

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_platform.access import Allow, Caller, MemberCaller, limit
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, error_responses
from loyalty_rewards.domain.outcomes import (
    Cancelled,
    CancelOutcome,
    Pending,
    Redeemed,
    RedeemOutcome,
    Refused,
    Replayed,
    Unavailable,
)
from loyalty_rewards.entrypoints.dependencies import RewardsDep
from loyalty_rewards.entrypoints.schemas import (
    CatalogOut,
    OfferOut,
    Reason,
    RedemptionOut,
    RedemptionRequest,
    RewardOut,
    redemption_body,
    reward_out,
)
from loyalty_rewards.service_layer.redeeming import KeyReused

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
BROWSE = Allow(member="own", scope="rewards:read")
REDEEM = Allow(member="own", scope="rewards:redeem")
# Cancelling gives points back, so it is for ops: a member could otherwise use a
# coupon at the till and then cancel its redemption.
CANCEL = Allow(scope="rewards:redeem")
RedemptionId = Annotated[str, Path(pattern=r"^rd-[0-9a-f]{32}$")]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]
REFUSALS = error_responses(404, 409, 422, 503)


@router.get(
    "/rewards",
    response_model=CatalogOut,
    responses=error_responses(404),
    dependencies=[Depends(BROWSE)],
)
async def get_rewards(
    service: RewardsDep,
    member_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> CatalogOut:
    """The catalog; with `member_id`, each reward says whether that member can redeem
    it now and, if not, why (tier, window, limit, stock, balance)."""
    if member_id is None:
        rewards = await service.cataloguing.rewards()
        return CatalogOut(member_id=None, rewards=[RewardOut(**reward_out(r)) for r in rewards])
    offers = await service.redeeming.offers(member_id)
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
    member_id: MemberId,
    body: RedemptionRequest,
    key: IdempotencyKey,
    request: Request,
    service: RewardsDep,
) -> JSONResponse:
    """Redeem a reward. The same `Idempotency-Key` with the same body gives the same
    answer, also after a restart; with another body, a 422."""
    limit(request, service.redemption_attempts, member_id, "redemptions_over_limit")
    try:
        outcome = await service.redeeming.redeem(member_id, body.reward_id, key)
    except KeyReused as reused:
        raise ApiError(422, "idempotency_key_reused", str(reused)) from reused
    return answer(outcome, done=201)


@router.get(
    "/members/{member_id}/redemptions",
    response_model=list[RedemptionOut],
    responses=error_responses(404),
)
async def get_redemptions(
    member_id: MemberId,
    service: RewardsDep,
    caller: Annotated[Caller, Depends(BROWSE)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[RedemptionOut]:
    """The member's redemptions, newest first; coupon codes for the member's own app
    only: a code is as good as the coupon, so ops and services see the rest."""
    found = await service.redeeming.history(member_id, limit)
    owner = isinstance(caller, MemberCaller)
    return [
        RedemptionOut(**{**redemption_body(r), **({} if owner else {"coupon_code": None})})
        for r in found
    ]


@router.post(
    "/redemptions/{redemption_id}/cancel",
    response_model=RedemptionOut,
    responses=REFUSALS,
    dependencies=[Depends(CANCEL)],
)
async def post_cancel(redemption_id: RedemptionId, service: RewardsDep) -> JSONResponse:
    """Cancel a redemption: its points come back (`loyalty.points.restored.v1`), and its
    stock. Asked again, the same answer."""
    return answer(await service.redeeming.cancel(redemption_id), done=200)


def answer(outcome: RedeemOutcome | CancelOutcome, *, done: int) -> JSONResponse:
    """The HTTP answer to an outcome; `done` is the status of a redemption made or
    cancelled. A replay is answered as the first request was."""
    match outcome:
        case Replayed(first):
            return answer(first, done=done)
        case Redeemed(redemption) | Cancelled(redemption):
            return JSONResponse(redemption_body(redemption), status_code=done)
        case Refused(code, message, missing):
            raise ApiError(404 if missing else 409, code, message)
        case Pending():
            raise ApiError(503, "points_unavailable", "try again shortly; nothing is lost")
        case Unavailable(message):
            raise ApiError(503, "dependency_unavailable", message)
        case _:
            assert_never(outcome)
