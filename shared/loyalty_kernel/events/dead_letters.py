"""The dead letter: a message no consumer could process, with its original bytes."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing
from loyalty_kernel.messages import InboundMessage, Rejection

DEAD_LETTERED = "loyalty.message.dead_lettered.v1"
# What a dead letter keeps of a message too large to read: enough to recognise it.
KEPT_OF_OVERSIZED = 4 * 1024


class OriginalMessage(PublishedData):
    topic: str
    partition: int
    offset: int
    key: str | None
    # The bytes as they arrived, untouched; of a message over the size limit only the
    # first KEPT_OF_OVERSIZED (`truncated`), so a dead letter always fits the broker.
    value_base64: str
    size: int  # of the whole message, in bytes
    sha256: str  # of the whole message: tells two dead letters of one message apart
    truncated: bool = False


class DeadLettered(PublishedData):
    consumer: str  # the service that could not process it
    reason: str  # machine-readable: schema_violation, unknown_purchase, ...
    detail: str
    original: OriginalMessage


def dead_letter_key(message: InboundMessage) -> str | None:
    """The dead letter's key: the original's (so a member's letters share a partition),
    cut short if it is absurdly long."""
    key = message.key_text
    return key[:KEPT_OF_OVERSIZED] if key is not None else None


def dead_letter_event(message: InboundMessage, consumer: str, why: Rejection) -> CloudEvent:
    """The dead-letter event: the original bytes untouched, who rejected them and why."""
    key = dead_letter_key(message)
    truncated = message.oversized
    kept = message.value[:KEPT_OF_OVERSIZED] if truncated else message.value
    original = OriginalMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key,
        value_base64=base64.b64encode(kept).decode(),
        size=len(message.value),
        sha256=hashlib.sha256(message.value).hexdigest(),
        truncated=truncated,
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
