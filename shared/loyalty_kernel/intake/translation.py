"""A consumed `purchases` message, translated into a command or a reason to reject it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from loyalty_kernel.events.purchases import PURCHASE_TOPIC, PurchaseCompleted
from loyalty_kernel.intake.commands import (
    IntakeCommand,
    PurchaseLine,
    RecordPurchase,
    RecordRefund,
)
from loyalty_kernel.intake.rules import TimeInFuture, check_not_in_future
from loyalty_kernel.messages import Consumed, InboundMessage, Rejection, Unprocessable


def translate_purchase(message: InboundMessage) -> Consumed[IntakeCommand] | Unprocessable:
    """The command one message of `purchases` carries, or why it can't be processed."""
    try:
        event = PURCHASE_TOPIC.validate_json(message.value)
    except ValidationError as exc:
        return Unprocessable(message, _rejection_for(exc))
    if message.key is None or message.key != event.data.member_id.encode():
        return Unprocessable(
            message, Rejection("key_mismatch", "the message key must be the member id")
        )
    command: IntakeCommand
    # One zone object for every moment: comparing aware datetimes whose tzinfo objects
    # differ (the parser makes one per value) goes through utcoffset() each time, about
    # ten times slower, and the rules compare event times constantly.
    at = event.time.astimezone(UTC)
    if isinstance(event, PurchaseCompleted):
        p = event.data
        lines = tuple(
            PurchaseLine(i.sku, i.category, i.quantity, i.unit_price) for i in p.items or ()
        )
        command = RecordPurchase(
            p.purchase_id, p.member_id, p.store_id, p.amount, p.currency, at, event.id,
            lines,
        )  # fmt: skip
    else:
        r = event.data
        command = RecordRefund(
            r.refund_id,
            r.purchase_id,
            r.member_id,
            r.amount,
            r.currency,
            at,
            event.id,
            r.store_id,
        )
    return Consumed(message, command)


def _rejection_for(exc: ValidationError) -> Rejection:
    errors = exc.errors(include_url=False)
    kinds = {e["type"] for e in errors}
    if "json_invalid" in kinds or "json_type" in kinds:
        return Rejection("invalid_json", "the message is not a JSON document")
    if kinds & {"union_tag_invalid", "union_tag_not_found"}:
        return Rejection("unknown_type", "type must be one of the purchase topic's event types")
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:10])
    return Rejection("schema_violation", detail)


@dataclass(frozen=True)
class PurchaseTranslator:
    """What a consumer of `purchases` reads: `translate_purchase`, and a purchase or
    refund stamped further ahead of `clock()` than `allowance` is unprocessable, so it
    can move no clock, watermark or tier. A replayed log is in the past: unaffected."""

    allowance: timedelta
    clock: Callable[[], datetime]

    def __call__(self, message: InboundMessage) -> Consumed[IntakeCommand] | Unprocessable:
        item = translate_purchase(message)
        if isinstance(item, Consumed):
            try:
                check_not_in_future(item.command.occurred_at, self.clock(), self.allowance)
            except TimeInFuture as broken:
                return Unprocessable(message, broken.rejection)
        return item
