"""Messages as a consumer receives them, and the dead letters made of the bad ones."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from loyalty_shared.events import CloudEvent, derived_event_id

DEAD_LETTERED = "loyalty.message.dead_lettered.v1"


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    log_end: int | None = None  # the partition's high watermark when the message was fetched
    log_id: str | None = None  # the broker cluster's id: offsets count within one log

    @property
    def position(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None


@dataclass(frozen=True)
class Rejection:
    """Why a message cannot be processed: a machine-readable reason and a human detail."""

    reason: str
    detail: str


class Rejected(Exception):
    """Raised by domain rules for a message that must go to the dead-letter topic."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.rejection = Rejection(reason, detail)


def dead_letter(message: InboundMessage, consumer: str, rejection: Rejection) -> CloudEvent:
    """The dead-letter event: the original bytes untouched, who rejected them and why."""
    key = message.key_text
    return CloudEvent(
        specversion="1.0",
        id=derived_event_id(consumer, message.topic, str(message.partition), str(message.offset)),
        source=f"loyalty/{consumer}",
        type=DEAD_LETTERED,
        time=datetime.fromtimestamp(message.timestamp_ms / 1000, tz=UTC),
        subject=key,
        data={
            "consumer": consumer,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "original": {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "key": key,
                "value_base64": base64.b64encode(message.value).decode(),
            },
        },
    )
