"""The points REST API: balances and ledgers for apps, purchase and refund ingest for
tills, spending for the rewards service, adjustments by ops. Who may call what is each
route's `Allow` rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_platform.access import Allow, KeyHolder
from loyalty_platform.http import (
    ACCESS_ERRORS,
    ApiError,
    MemberId,
    Moment,
    as_of_moment,
    error_responses,
    running,
)
from loyalty_points.bootstrap import PointsService
from loyalty_points.domain.entries import AdjustmentRefused, DebitRefused
from loyalty_points.entrypoints import ingest, programme, reports
from loyalty_points.entrypoints.schemas import (
    AdjustmentOut,
    AdjustmentRequest,
    BalanceOut,
    DebitOut,
    DebitRequest,
    LedgerEntryOut,
    LedgerPage,
    LotOut,
    LotsOut,
)
from loyalty_points.service_layer import views
from loyalty_points.service_layer.adjusting import AdjustmentConflict, AdjustPoints, NoAccount
from loyalty_points.service_layer.spending import DebitConflict, SpendPoints, UnknownDebit

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
# The member's own app, or ops and services allowed to read any member.
READ = Allow(member="own", scope="points:read")
SPEND = Allow(scope="points:debit")
ADJUST = Allow(scope="points:adjust")
DebitId = Annotated[str, Path(pattern=ID_PATTERN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "The member has no points account"}
}


Points = Annotated[PointsService, Depends(running(PointsService))]
AsOf = Annotated[Moment | None, Query(description="RFC 3339 moment (default: now)")]


@router.get(
    "/members/{member_id}/balance",
    response_model=BalanceOut,
    responses=NOT_FOUND,
    dependencies=[Depends(READ)],
)
async def get_balance(member_id: MemberId, service: Points, as_of: AsOf = None) -> BalanceOut:
    """The balance, spendable and pending, and the next points to expire: now, or as of
    a moment (worked from the entries up to it; before the member's first entry, zeros)."""
    async with service.sessions() as session:
        found = await views.balance(session, member_id, as_of_moment(as_of))
    if found is None:
        raise _no_account(member_id)
    return BalanceOut.model_validate(found)


@router.get(
    "/members/{member_id}/lots",
    response_model=LotsOut,
    responses=NOT_FOUND,
    dependencies=[Depends(READ)],
)
async def get_lots(member_id: MemberId, service: Points, as_of: AsOf = None) -> LotsOut:
    """The member's lots, newest first: what each earning put in, when it vests and
    expires, and what is left of it; now, or as of a moment."""
    moment = as_of_moment(as_of)
    async with service.sessions() as session:
        if not await views.has_account(session, member_id):
            raise _no_account(member_id)
        held = await views.lots(session, member_id, moment)
    return LotsOut(member_id=member_id, as_of=moment,
                   lots=[LotOut.model_validate(lot) for lot in held])  # fmt: skip


def _no_account(member_id: str) -> ApiError:
    return ApiError(404, "unknown_member", f"member {member_id} has no points account")


@router.get(
    "/members/{member_id}/ledger",
    response_model=LedgerPage,
    responses=NOT_FOUND,
    dependencies=[Depends(READ)],
)
async def get_ledger(
    member_id: MemberId,
    service: Points,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,  # fits a bigint
) -> LedgerPage:
    async with service.sessions() as session:
        rows = await views.ledger_page(
            session, member_id, before_id=int(cursor) if cursor else None, limit=limit
        )
    entries = [LedgerEntryOut.model_validate(r) for r in rows]
    next_cursor = str(entries[-1].id) if len(entries) == limit else None
    return LedgerPage(member_id=member_id, entries=entries, next_cursor=next_cursor)


SPEND_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Not enough points spendable (`insufficient_points`; "
        "`points_pending` when pending points will make up the rest, with when they vest), "
        "or a negative balance: nothing was taken"
    },
    422: {"description": "A bad body, or a debit id used before for other facts"},
}


@router.post(
    "/members/{member_id}/debits",
    status_code=201,
    response_model=DebitOut,
    responses=SPEND_REFUSALS,
    dependencies=[Depends(SPEND)],
)
async def post_debit(
    member_id: MemberId, body: DebitRequest, service: Points, response: Response
) -> DebitOut:
    """Spend a member's points (the rewards service, for a redemption). Never below
    zero, nothing while the balance is negative. Asked again with the same debit id
    and facts, the same debit is the answer (200)."""
    cmd = SpendPoints(body.debit_id, member_id, body.points, body.reference)
    try:
        debit, created = await service.spending.spend(cmd, datetime.now(UTC))
    except DebitRefused as refused:
        details = None
        if refused.vests_at is not None:  # enough will be spendable then
            details = [{"field": "body.points", "problem": "still pending",
                        "vests_at": refused.vests_at.isoformat()}]  # fmt: skip
        raise ApiError(409, refused.reason, str(refused), details) from refused
    except DebitConflict as conflict:
        raise ApiError(422, "conflicting_debit", str(conflict)) from conflict
    if not created:
        response.status_code = 200
    return DebitOut.model_validate(debit, from_attributes=True)


@router.post(
    "/debits/{debit_id}/restore",
    response_model=DebitOut,
    responses={404: {"description": "No such debit"}},
    dependencies=[Depends(SPEND)],
)
async def post_restore(debit_id: DebitId, service: Points) -> DebitOut:
    """Put a debit's points back (a cancelled redemption); once, however often asked."""
    try:
        debit = await service.spending.restore(debit_id, datetime.now(UTC))
    except UnknownDebit as unknown:
        raise ApiError(404, "unknown_debit", str(unknown)) from unknown
    return DebitOut.model_validate(debit, from_attributes=True)


@router.post(
    "/members/{member_id}/adjustments",
    status_code=201,
    response_model=AdjustmentOut,
    responses=error_responses(404, 409),
)
async def post_adjustment(
    member_id: MemberId,
    body: AdjustmentRequest,
    service: Points,
    response: Response,
    operator: Annotated[KeyHolder, Depends(ADJUST)],
) -> AdjustmentOut:
    """Add or take points by hand, with a reason; the key that does it is recorded as
    the actor. The balance may go below zero, as after a clawback. Asked again with the
    same adjustment id and facts, the same adjustment is the answer (200); with other
    facts, a 409. A member with no points account yet is a 404."""
    cmd = AdjustPoints(body.adjustment_id, member_id, body.points, body.reason, operator.key_id)
    try:
        adjustment, created = await service.adjusting.adjust(cmd, datetime.now(UTC))
    except AdjustmentConflict as conflict:
        raise ApiError(409, "conflicting_adjustment", str(conflict)) from conflict
    except AdjustmentRefused as refused:
        raise ApiError(
            422, "invalid_adjustment", str(refused), [{"field": "body", "problem": str(refused)}]
        ) from refused
    except NoAccount as missing:
        raise ApiError(404, "unknown_member", str(missing)) from missing
    if not created:
        response.status_code = 200
    return AdjustmentOut.model_validate(adjustment, from_attributes=True)


def api() -> APIRouter:
    """Every route of the points API: members' points, till ingest, reports."""
    everything = APIRouter()
    for part in (router, ingest.router, reports.router, programme.router):
        everything.include_router(part)
    return everything
