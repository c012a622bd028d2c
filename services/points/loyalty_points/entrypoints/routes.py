"""The points REST API: balances and ledgers for apps, purchase and refund ingest for
tills, spending for the rewards service, adjustments by ops. Who may call what is each
route's `Allow` rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_kernel.events.purchases import PurchaseCompleted, PurchaseRefunded, till_event
from loyalty_kernel.intake.records import UNKNOWN_STORE
from loyalty_kernel.intake.rules import TimeInFuture, check_not_in_future
from loyalty_platform.access import Allow, KeyHolder, require_store
from loyalty_platform.access.guard import gate_of
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, error_responses, running
from loyalty_platform.kafka import member_key
from loyalty_points.bootstrap import PointsService
from loyalty_points.domain.ledger import AdjustmentRefused, DebitRefused
from loyalty_points.entrypoints.schemas import (
    Accepted,
    AdjustmentOut,
    AdjustmentRequest,
    BalanceOut,
    DebitOut,
    DebitRequest,
    LedgerEntryOut,
    LedgerPage,
    PurchaseSubmission,
    RefundSubmission,
)
from loyalty_points.service_layer import views
from loyalty_points.service_layer.adjusting import AdjustmentConflict, AdjustPoints, NoAccount
from loyalty_points.service_layer.spending import DebitConflict, SpendPoints, UnknownDebit

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
# The member's own app, or ops and services allowed to read any member.
BROKER_WAIT_SECONDS = 10.0  # a till waits no longer than this for the broker
READ = Allow(member="own", scope="points:read")
TILL = Allow(till=True)
SPEND = Allow(scope="points:debit")
ADJUST = Allow(scope="points:adjust")
DebitId = Annotated[str, Path(pattern=ID_PATTERN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "The member has no points account"}
}


Points = Annotated[PointsService, Depends(running(PointsService))]


@router.get(
    "/members/{member_id}/balance",
    response_model=BalanceOut,
    responses=NOT_FOUND,
    dependencies=[Depends(READ)],
)
async def get_balance(member_id: MemberId, service: Points) -> BalanceOut:
    async with service.sessions() as session:
        found = await views.balance(session, member_id)
    if found is None:
        raise ApiError(404, "unknown_member", f"member {member_id} has no points account")
    return BalanceOut(member_id=found.member_id, balance=found.balance, updated_at=found.updated_at)


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


@router.post("/purchases", status_code=202, response_model=Accepted, responses=error_responses(503))
async def post_purchase(
    body: PurchaseSubmission,
    request: Request,
    service: Points,
    till: Annotated[KeyHolder, Depends(TILL)],
) -> Accepted:
    """Validate a till's purchase and put it on the `purchases` topic. A till's key
    posts for its own store only."""
    require_store(request, till, body.store_id)
    _refuse_future(service, body)
    event = _till_event(body, till)
    return await _publish(service, event, body.member_id, body.currency)


@router.post(
    "/refunds", status_code=202, response_model=Accepted, responses=error_responses(404, 503)
)
async def post_refund(
    body: RefundSubmission,
    request: Request,
    service: Points,
    till: Annotated[KeyHolder, Depends(TILL)],
) -> Accepted:
    """Validate a till's refund and put it on the `purchases` topic, stamped with the
    till's store. The purchase must be recorded in the ledger, bought at that store."""
    store_id = require_store(request, till, body.store_id)
    _refuse_future(service, body)
    await _check_refunded_purchase(request, service, till, body)
    event = _till_event(body.model_copy(update={"store_id": store_id}), till)
    return await _publish(service, event, body.member_id, body.currency)


def _refuse_future(service: PointsService, body: PurchaseSubmission | RefundSubmission) -> None:
    """A till whose clock runs ahead (or a till key trying to move the platform's
    clocks) is told so, and nothing is published."""
    allowance = service.settings.programme.max_future
    try:
        check_not_in_future(body.occurred_at, datetime.now(UTC), allowance)
    except TimeInFuture as late:
        problem = f"at most {allowance.total_seconds():.0f} s after the service's clock"
        details = [{"field": "body.occurred_at", "problem": problem}]
        raise ApiError(422, late.reason, str(late), details) from late


async def _check_refunded_purchase(
    request: Request, service: PointsService, till: KeyHolder, body: RefundSubmission
) -> None:
    """A till refunds what its own store sold, once the ledger has recorded it; to
    another store's till, another store's purchase is as unknown as none at all."""
    async with service.sessions() as session:
        numbered = await views.purchases_numbered(session, body.purchase_id)
    own = [p for p in numbered if p.member_id == body.member_id]
    if any(p.store_id in (till.store_id, UNKNOWN_STORE) for p in own):
        return
    if own:
        gate_of(request).events.record(
            "store_mismatch",
            request,
            key_id=till.key_id,
            key_store=till.store_id,
            named=",".join(sorted(p.store_id for p in own)),
            purchase_id=body.purchase_id,
        )
    raise ApiError(
        404,
        "unknown_purchase",
        f"no purchase {body.purchase_id} of this member is recorded at store {till.store_id}",
    )


def _till_event(
    body: PurchaseSubmission | RefundSubmission, till: KeyHolder
) -> PurchaseCompleted | PurchaseRefunded:
    """The event a till would have sent, from the till's own store and till."""
    source = "/".join(part for part in ("pos-api", till.store_id, till.till_id) if part)
    return till_event(body.as_data(), source=source, time=body.occurred_at)


async def _publish(
    service: PointsService,
    event: PurchaseCompleted | PurchaseRefunded,
    member_id: str,
    currency: str,
) -> Accepted:
    expected = service.settings.programme.currency
    if currency != expected:
        raise ApiError(
            422,
            "wrong_currency",
            f"currency must be the programme currency {expected}",
            [{"field": "body.currency", "problem": f"expected {expected}"}],
        )
    topic = service.settings.kafka.topics.purchases
    try:
        async with asyncio.timeout(BROKER_WAIT_SECONDS):
            sent = await service.producer.send_and_wait(
                topic, event.to_bytes(), key=member_key(member_id)
            )
    except (KafkaError, TimeoutError) as exc:
        # Not the till's fault: it may post the same event again (it counts once).
        raise ApiError(
            503,
            "broker_unavailable",
            f"the broker did not take the event: {type(exc).__name__}; post it again later",
            headers={"Retry-After": "5"},
        ) from exc
    return Accepted(event_id=event.id, topic=topic, partition=sent.partition, offset=sent.offset)


SPEND_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not enough points, or a negative balance: nothing was taken"},
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
        raise ApiError(409, refused.reason, str(refused)) from refused
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
