"""The points REST API: balances and ledgers for apps, purchase and refund ingest for tills."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from loyalty_points.bootstrap import PointsService
from loyalty_points.domain.ledger import DebitRefused
from loyalty_points.entrypoints.schemas import (
    Accepted,
    BalanceOut,
    DebitOut,
    DebitRequest,
    LedgerEntryOut,
    LedgerPage,
    PurchaseSubmission,
    RefundSubmission,
)
from loyalty_points.service_layer import views
from loyalty_points.service_layer.spending import DebitConflict, SpendPoints, UnknownDebit
from loyalty_shared.events import (
    ID_PATTERN,
    PURCHASE_COMPLETED,
    PURCHASE_REFUNDED,
    CloudEvent,
    derived_event_id,
)
from loyalty_shared.http import ApiError, MemberId
from loyalty_shared.kafka import member_key

router = APIRouter(prefix="/v1")
DebitId = Annotated[str, Path(pattern=ID_PATTERN)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "The member has no points account"}
}


def _service(request: Request) -> PointsService:
    return request.app.state.service  # type: ignore[no-any-return]


@router.get("/members/{member_id}/balance", response_model=BalanceOut, responses=NOT_FOUND)
async def get_balance(member_id: MemberId, request: Request) -> BalanceOut:
    async with _service(request).sessions() as session:
        found = await views.balance(session, member_id)
    if found is None:
        raise ApiError(404, "unknown_member", f"member {member_id} has no points account")
    return BalanceOut(member_id=found.member_id, balance=found.balance, updated_at=found.updated_at)


@router.get("/members/{member_id}/ledger", response_model=LedgerPage)
async def get_ledger(
    member_id: MemberId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
) -> LedgerPage:
    async with _service(request).sessions() as session:
        rows = await views.ledger_page(
            session, member_id, before_id=int(cursor) if cursor else None, limit=limit
        )
    entries = [LedgerEntryOut.model_validate(r) for r in rows]
    next_cursor = str(entries[-1].id) if len(entries) == limit else None
    return LedgerPage(member_id=member_id, entries=entries, next_cursor=next_cursor)


@router.post("/purchases", status_code=202, response_model=Accepted)
async def post_purchase(body: PurchaseSubmission, request: Request) -> Accepted:
    """Validate a till's purchase and put it on the `purchases` topic."""
    event = _till_event(body, PURCHASE_COMPLETED, body.purchase_id, f"pos-api/{body.store_id}")
    return await _publish(request, event, body.member_id, body.currency)


@router.post("/refunds", status_code=202, response_model=Accepted)
async def post_refund(body: RefundSubmission, request: Request) -> Accepted:
    """Validate a till's refund and put it on the `purchases` topic."""
    event = _till_event(body, PURCHASE_REFUNDED, body.refund_id, "pos-api/refunds")
    return await _publish(request, event, body.member_id, body.currency)


def _till_event(
    body: PurchaseSubmission | RefundSubmission, type: str, business_id: str, source: str
) -> CloudEvent:
    """The event a till would have sent; a retried post gets the same event id."""
    return CloudEvent(
        specversion="1.0",
        id=derived_event_id("rest", type, business_id),
        source=source,
        type=type,
        time=body.occurred_at,
        subject=body.member_id,
        data=body.model_dump(mode="json", exclude={"occurred_at"}, exclude_none=True),
    )


async def _publish(request: Request, event: CloudEvent, member_id: str, currency: str) -> Accepted:
    service = _service(request)
    expected = service.settings.programme.currency
    if currency != expected:
        raise ApiError(
            422,
            "wrong_currency",
            f"currency must be the programme currency {expected}",
            [{"field": "body.currency", "problem": f"expected {expected}"}],
        )
    topic = service.settings.kafka.topics.purchases
    sent = await service.producer.send_and_wait(topic, event.to_bytes(), key=member_key(member_id))
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
)
async def post_debit(
    member_id: MemberId, body: DebitRequest, request: Request, response: Response
) -> DebitOut:
    """Spend a member's points (the rewards service, for a redemption). Never below
    zero, nothing while the balance is negative. Asked again with the same debit id
    and facts, the same debit is the answer (200)."""
    cmd = SpendPoints(body.debit_id, member_id, body.points, body.reference)
    try:
        debit, created = await _service(request).spending.spend(cmd, datetime.now(UTC))
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
)
async def post_restore(debit_id: DebitId, request: Request) -> DebitOut:
    """Put a debit's points back (a cancelled redemption); once, however often asked."""
    try:
        debit = await _service(request).spending.restore(debit_id, datetime.now(UTC))
    except UnknownDebit as unknown:
        raise ApiError(404, "unknown_debit", str(unknown)) from unknown
    return DebitOut.model_validate(debit, from_attributes=True)
