"""Builders for the CloudEvents tills send, as raw JSON the way a till would write it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def purchase(
    member_id: str,
    purchase_id: str,
    amount: Decimal | str,
    at: datetime,
    *,
    event_id: str | None = None,
    currency: str = "USD",
    store_id: str = "store-17",
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    event = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": f"pos/{store_id}/till-3",
        "type": "loyalty.purchase.completed.v1",
        "time": iso(at),
        "subject": member_id,
        "datacontenttype": "application/json",
        "data": {
            "purchase_id": purchase_id,
            "member_id": member_id,
            "store_id": store_id,
            "amount": str(amount),
            "currency": currency,
        },
    }
    if items is not None:
        event["data"]["items"] = items
    return event


def refund(
    member_id: str,
    refund_id: str,
    purchase_id: str,
    amount: Decimal | str,
    at: datetime,
    *,
    event_id: str | None = None,
    currency: str = "USD",
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "pos/store-17/till-3",
        "type": "loyalty.purchase.refunded.v1",
        "time": iso(at),
        "subject": member_id,
        "data": {
            "refund_id": refund_id,
            "purchase_id": purchase_id,
            "member_id": member_id,
            "amount": str(amount),
            "currency": currency,
        },
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
