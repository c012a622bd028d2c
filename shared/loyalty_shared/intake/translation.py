"""A consumed `purchases` message, translated into a command or a reason to reject it."""

from __future__ import annotations

from pydantic import ValidationError

from loyalty_shared.events import PURCHASE_TOPIC, PurchaseCompleted
from loyalty_shared.intake.commands import IntakeCommand, RecordPurchase, RecordRefund
from loyalty_shared.messages import InboundMessage, Rejection


def translate(message: InboundMessage) -> IntakeCommand | Rejection:
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
