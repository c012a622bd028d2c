"""Purchase and refund ingest for tills over REST: validated as the topic's consumers
would, then put on the `purchases` topic (202 once the broker has it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Request

from loyalty_kernel.events.purchases import PurchaseCompleted, PurchaseRefunded, till_event
from loyalty_kernel.intake.records import UNKNOWN_STORE
from loyalty_kernel.intake.rules import TimeInFuture, check_not_in_future
from loyalty_platform.access import Allow, KeyHolder, require_store
from loyalty_platform.access.guard import gate_of
from loyalty_platform.http import ACCESS_ERRORS, ApiError, error_responses, running
from loyalty_platform.kafka import member_key
from loyalty_points.bootstrap import PointsService
from loyalty_points.entrypoints.schemas import Accepted, PurchaseSubmission, RefundSubmission
from loyalty_points.service_layer import views

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
BROKER_WAIT_SECONDS = 10.0  # a till waits no longer than this for the broker
TILL = Allow(till=True)
Points = Annotated[PointsService, Depends(running(PointsService))]


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
