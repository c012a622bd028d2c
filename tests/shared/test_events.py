"""The purchase topic's contract (docs/contracts/events.md), as the parser enforces it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from loyalty_kernel.events.purchases import PURCHASE_TOPIC, PurchaseCompleted, PurchaseRefunded
from tests.support.events import purchase, refund

AT = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def parse(event: dict) -> PurchaseCompleted | PurchaseRefunded:
    return PURCHASE_TOPIC.validate_json(json.dumps(event))


def test_a_purchase_parses_with_exact_money_and_a_zoned_time():
    event = purchase("member-123", "p-99812", "123.45", AT)
    event["data"]["items"] = [
        {"sku": "TURKEY-16", "category": "meat", "quantity": 1, "unit_price": "45.00"}
    ]
    parsed = parse(event)
    assert isinstance(parsed, PurchaseCompleted)
    assert parsed.data.amount == Decimal("123.45")
    assert parsed.time == AT
    assert parsed.data.items[0].unit_price == Decimal("45.00")


def test_a_refund_parses_and_an_offset_zone_is_kept():
    event = refund("member-123", "r-1", "p-99812", "5.5", AT)
    event["time"] = "2026-11-23T12:15:00+02:00"
    parsed = parse(event)
    assert isinstance(parsed, PurchaseRefunded)
    assert parsed.time == AT
    assert parsed.data.amount == Decimal("5.5")


def test_the_envelope_keeps_extension_attributes():
    event = purchase("m", "p", "1.00", AT)
    event["traceparent"] = "00-abc-def-01"
    assert parse(event).model_extra == {"traceparent": "00-abc-def-01"}


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "10.001"}, {"amount": "0"}, {"amount": "0.00"}, {"amount": "-1"},
        {"amount": "1000000.01"}, {"amount": 10}, {"amount": "1e3"}, {"amount": " 10"},
        {"member_id": ""}, {"member_id": "x" * 129}, {"purchase_id": "p/1"},
        {"currency": "usd"}, {"store_id": None}, {"surprise": 1},
    ],
)  # fmt: skip
def test_bad_purchase_data_is_refused(change):
    event = purchase("m-1", "p-1", "10.00", AT)
    event["data"].update(change)
    if "member_id" in change:
        event["subject"] = change["member_id"]
    with pytest.raises(ValidationError):
        parse(event)


def test_the_largest_amount_is_accepted():
    assert parse(purchase("m", "p", "1000000.00", AT)).data.amount == Decimal(1_000_000)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time", "2026-11-23T10:15:00"), ("time", "2026-11-23"), ("time", 1700000000),
        ("specversion", "0.3"), ("id", ""), ("id", "x" * 129), ("source", ""),
        ("subject", "someone-else"), ("type", "loyalty.purchase.teleported.v1"),
    ],
)  # fmt: skip
def test_bad_envelopes_are_refused(field, value):
    event = purchase("m-1", "p-1", "10.00", AT)
    event[field] = value
    with pytest.raises(ValidationError):
        parse(event)


def test_a_128_character_id_is_accepted():
    assert parse(purchase("m", "p", "1.00", AT, event_id="e" * 128)).id == "e" * 128


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+05:38", "9999-12-31T23:00:00-05:00", "1899-12-31T23:59:59Z",
             "9001-01-01T00:00:00Z"],
)  # fmt: skip
def test_a_moment_at_the_ends_of_the_calendar_is_refused_not_overflowed(time):
    """Windows and zones would push it past year 1 or 9999 (Schemathesis' find)."""
    event = purchase("m-1", "p-1", "10.00", AT)
    event["time"] = time
    with pytest.raises(ValidationError, match="1900-9000"):
        parse(event)
