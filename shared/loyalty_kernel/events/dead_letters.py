"""The dead letter: a message no consumer could process, with its original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing
from loyalty_kernel.messages import InboundMessage, Rejection

DEAD_LETTERED = "loyalty.message.dead_lettered.v1"


class OriginalMessage(PublishedData):
    topic: str
    partition: int
    offset: int
    key: str | None
    value_base64: str  # the bytes as they arrived, untouched


class DeadLettered(PublishedData):
    consumer: str  # the service that could not process it
    reason: str  # machine-readable: schema_violation, unknown_purchase, ...
    detail: str
    original: OriginalMessage


def dead_letter_event(message: InboundMessage, consumer: str, why: Rejection) -> CloudEvent:
    """The dead-letter event: the original bytes untouched, who rejected them and why."""
    key = message.key_text
    original = OriginalMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key,
        value_base64=base64.b64encode(message.value).decode(),
    )
    return outgoing(
        DEAD_LETTERED,
        source=f"loyalty/{consumer}",
        id_parts=(consumer, message.topic, str(message.partition), str(message.offset)),
        time=datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC),
        subject=key,
        data=DeadLettered(
            consumer=consumer, reason=why.reason, detail=why.detail, original=original
        ),
    )
