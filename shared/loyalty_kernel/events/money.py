"""Money on the wire: decimal strings with at most two decimals, never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

MAX_AMOUNT = Decimal("1000000")
CENT = Decimal("0.01")
_AMOUNT_PATTERN = re.compile(r"^\d{1,7}(\.\d{1,2})?$")


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


def money_text(amount: Decimal) -> str:
    """A money amount as published: always two decimals, whatever arithmetic made it."""
    return format(amount.quantize(CENT), "f")


# An amount a till sends: positive, bounded, at most two decimals.
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
# A computed amount in a response or an event (totals, spend still needed).
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
