"""The `purchases` topic, translated into ledger commands for the handler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from loyalty_points.domain.commands import RecordPurchase, RecordRefund
from loyalty_points.service_layer.handlers import Inbound, LedgerCommand, PurchaseHandler
from loyalty_shared.events import PURCHASE_TOPIC, PurchaseCompleted
from loyalty_shared.messages import InboundMessage, Rejection
from loyalty_shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)


def translate(message: InboundMessage) -> LedgerCommand | Rejection:
    """Parse one message into a command, or say why it can't be processed."""
    try:
        event = PURCHASE_TOPIC.validate_json(message.value)
    except ValidationError as exc:
        return _rejection_for(exc)
    if message.key is None or message.key != event.data.member_id.encode():
        return Rejection("key_mismatch", "the message key must be the member id")
    if isinstance(event, PurchaseCompleted):
        p = event.data
        return RecordPurchase(
            p.purchase_id, p.member_id, p.store_id, p.amount, p.currency, event.time, event.id
        )
    r = event.data
    return RecordRefund(
        r.refund_id, r.purchase_id, r.member_id, r.amount, r.currency, event.time, event.id
    )


def _rejection_for(exc: ValidationError) -> Rejection:
    errors = exc.errors(include_url=False)
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds or "json_type" in kinds:
        return Rejection("invalid_json", "the message is not a JSON document")
    if kinds & {"union_tag_invalid", "union_tag_not_found"}:
        return Rejection("unknown_type", "type must be one of the purchase topic's event types")
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:10])
    return Rejection("schema_violation", detail)


class PurchaseTopicConsumer:
    """The runner's batch handler for the points service."""

    def __init__(
        self,
        handler: PurchaseHandler,
        metrics: ServiceMetrics,
        on_commit: Callable[[], None],
    ) -> None:
        self._handler, self._metrics, self._on_commit = handler, metrics, on_commit

    async def handle(self, batch: Sequence[InboundMessage]) -> None:
        outcome = await self._handler.apply([Inbound(m, translate(m)) for m in batch])
        if batch:
            topic = batch[0].topic
            self._metrics.messages_applied(topic).inc(outcome.applied)
            self._metrics.messages_skipped(topic).inc(outcome.skipped)
        for rejection in outcome.rejections:
            self._metrics.dead_letters(rejection.reason).inc()
        if outcome.entries or outcome.rejections:
            self._on_commit()

    async def dead_letter(self, message: InboundMessage, rejection: Rejection) -> None:
        await self._handler.reject(message, rejection)
        self._metrics.dead_letters(rejection.reason).inc()
        self._on_commit()
