"""Messages as a consumer receives them, and what each one turns out to be: a command
to apply, a message that cannot be processed (and why), or one to ignore."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)

# No message on a topic may be larger: a bigger one is refused whole (`too_large`), so
# no single producer can make a batch, a database row or a dead letter unmanageable.
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    log_id: str | None = None  # the broker cluster's id: offsets count within one log

    @property
    def position(self) -> tuple[str, int]:
        return (self.topic, self.partition)

    @property
    def size(self) -> int:
        """Key and value together: what `MAX_MESSAGE_BYTES` bounds."""
        return len(self.value) + len(self.key or b"")

    @property
    def oversized(self) -> bool:
        return self.size > MAX_MESSAGE_BYTES

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key is not None else None


@dataclass(frozen=True)
class Rejection:
    """Why a message cannot be processed: a machine-readable reason and a human detail."""

    reason: str
    detail: str


class RuleBroken(Exception):
    """A rule refuses what a message asks; `reason` is the dead letter's reason."""

    reason: str = "rule_broken"

    @property
    def rejection(self) -> Rejection:
        return Rejection(self.reason, str(self))


@dataclass(frozen=True)
class Consumed(Generic[C_co]):
    """A message and the command it carries."""

    message: InboundMessage
    command: C_co


@dataclass(frozen=True)
class Unprocessable:
    """A message that cannot be processed, and why: it goes to the dead-letter topic."""

    message: InboundMessage
    why: Rejection


@dataclass(frozen=True)
class Ignored:
    """A message of a kind this service has no use for; it only moves the position."""

    message: InboundMessage


Item = Consumed[C] | Unprocessable | Ignored


def refuse_oversized(message: InboundMessage) -> Unprocessable | None:
    """A message over `MAX_MESSAGE_BYTES` cannot be processed, whatever it says."""
    if not message.oversized:
        return None
    why = Rejection(
        "too_large",
        f"the message is {message.size} bytes; at most {MAX_MESSAGE_BYTES} are read",
    )
    return Unprocessable(message, why)
