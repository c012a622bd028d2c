"""The CloudEvents 1.0 structured-mode envelope every message on every topic wears,
the identifiers and moments it carries, and the one way an outgoing event is made."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
# RFC 3339 demands a zone; pydantic alone would also take numbers and naive times.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+\-]\d{2}:\d{2})$")
FIRST_YEAR, LAST_YEAR = 1900, 9000

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with a zone, e.g. 2026-11-23T10:15:00Z")
    return value


def _within_calendar(value: datetime) -> datetime:
    # Windows and holds add and subtract days, and zones shift the date: a moment near
    # year 1 or 9999 would overflow there. Refused here, it is a clear 422 or dead letter.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


EventTime = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_within_calendar)]


class CloudEvent(BaseModel):
    """The structured-mode CloudEvents 1.0 envelope; extension attributes are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str, Field(min_length=1, max_length=512)]
    type: str
    time: EventTime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: Any = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


# Events we publish get ids derived from what they record, so a re-publish after a
# crash carries the same id and downstream consumers can drop it.
_EVENT_ID_KEY = b"loyalty-event-id"


def derived_event_id(*parts: str) -> str:
    """32 hex characters, the same for the same parts (a keyed BLAKE2b: cheaper than uuid5)."""
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=16, key=_EVENT_ID_KEY)
    return digest.hexdigest()


class PublishedData(BaseModel):
    """The data of an event the platform publishes, one model per event type, shared by
    the service that writes it and those that read it. Readers ignore fields they do
    not know, so a producer can add one without breaking an older consumer."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class PublishedEvent(CloudEvent):
    """An event the platform publishes. Its data is written as its model says, nulls
    included (a till's event leaves out what it does not say)."""

    def to_bytes(self) -> bytes:
        absent = {"subject"} if self.subject is None else None
        return self.model_dump_json(exclude=absent).encode()


def outgoing(
    event_type: str,
    *,
    source: str,
    id_parts: tuple[str, ...],
    time: datetime,
    subject: str | None,
    data: PublishedData,
) -> PublishedEvent:
    """An event the platform publishes: its id derived from what it records, so a
    re-publish after a crash carries the same id."""
    return PublishedEvent(
        specversion="1.0",
        id=derived_event_id(*id_parts),
        source=source,
        type=event_type,
        time=time,
        subject=subject,
        data=data,
    )
