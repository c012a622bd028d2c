"""CloudEvents 1.0 envelopes and the event models every service reads or writes.

One discriminated union per topic, parsed by one `TypeAdapter`. Wire models are
frozen and separate from any database table.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    model_validator,
)

MAX_AMOUNT = Decimal("1000000")
ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
_AMOUNT_PATTERN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")
# RFC 3339 demands a zone; pydantic alone would also take numbers and naive times.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+\-]\d{2}:\d{2})$")

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


def _money_from_string(value: Any) -> Decimal:
    if not isinstance(value, str) or not _AMOUNT_PATTERN.match(value):
        raise ValueError("must be a decimal string with at most 2 decimals, e.g. '123.45'")
    return Decimal(value)


def _positive_and_bounded(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    if value > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    return value


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with a zone, e.g. 2026-11-23T10:15:00Z")
    return value


Amount = Annotated[
    Decimal,
    BeforeValidator(_money_from_string),
    AfterValidator(_positive_and_bounded),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
]
UnitPrice = Annotated[
    Decimal,
    BeforeValidator(_money_from_string),
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
]


def _within_calendar(value: datetime) -> datetime:
    # Windows and holds add and subtract days, and zones shift the date: a moment near
    # year 1 or 9999 would overflow there. Refused here, it is a clear 422 or dead letter.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


FIRST_YEAR, LAST_YEAR = 1900, 9000
EventTime = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_within_calendar)]
CENT = Decimal("0.01")


def money_text(amount: Decimal) -> str:
    """A money amount as published: always two decimals, whatever arithmetic made it."""
    return format(amount.quantize(CENT), "f")


# A computed amount in a response or an event (totals, spend still needed).
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LineItem(_Data):
    sku: Annotated[str, Field(min_length=1, max_length=128)]
    category: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    quantity: Annotated[int, Field(gt=0, le=100_000, strict=True)]
    unit_price: UnitPrice


class PurchaseData(_Data):
    purchase_id: Identifier
    member_id: Identifier
    store_id: Identifier
    amount: Amount
    currency: Currency
    items: list[LineItem] | None = None


class RefundData(_Data):
    refund_id: Identifier
    purchase_id: Identifier
    member_id: Identifier
    amount: Amount
    currency: Currency
    reason: Annotated[str, Field(max_length=500)] | None = None
    # The store that took the return, where the till says so (REST ingest always
    # does). A chain may take back at any store what another one sold.
    store_id: Identifier | None = None


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


class _MemberEvent(CloudEvent):
    @model_validator(mode="after")
    def _subject_is_member(self) -> _MemberEvent:
        if self.subject != self.data.member_id:
            raise ValueError("subject must equal data.member_id")
        return self


class PurchaseCompleted(_MemberEvent):
    type: Literal["loyalty.purchase.completed.v1"]
    data: PurchaseData


class PurchaseRefunded(_MemberEvent):
    type: Literal["loyalty.purchase.refunded.v1"]
    data: RefundData


PurchaseTopicEvent = Annotated[PurchaseCompleted | PurchaseRefunded, Field(discriminator="type")]
PURCHASE_TOPIC = TypeAdapter[PurchaseCompleted | PurchaseRefunded](PurchaseTopicEvent)

PURCHASE_COMPLETED = "loyalty.purchase.completed.v1"
PURCHASE_REFUNDED = "loyalty.purchase.refunded.v1"
PURCHASE_TYPES = (PURCHASE_COMPLETED, PURCHASE_REFUNDED)

# Events we publish get ids derived from what they record, so a re-publish after a
# crash carries the same id and downstream consumers can drop it.
_EVENT_ID_KEY = b"loyalty-event-id"


def derived_event_id(*parts: str) -> str:
    """32 hex characters, the same for the same parts (a keyed BLAKE2b: cheaper than uuid5)."""
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=16, key=_EVENT_ID_KEY)
    return digest.hexdigest()
