"""Generated purchase logs for end-to-end tests: members' histories in event-time order,
redeliveries, and one message of every kind a consumer must dead-letter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.events import encode, purchase, refund

# Far enough back that the longest history (about 270 days) ends before today: the
# consumers refuse what is stamped in the future.
START = datetime(2025, 9, 1, 9, 0, tzinfo=UTC)
Message = tuple[bytes | None, bytes]


def member_history(rng: random.Random, member: str) -> list[tuple[datetime, dict[str, Any]]]:
    """One member's purchases and refunds in event-time order."""
    events: list[tuple[datetime, dict[str, Any]]] = []
    at = START + timedelta(hours=rng.randint(0, 48))
    bought: list[tuple[str, Decimal, Decimal]] = []  # id, amount, left
    for n in range(rng.randint(4, 16)):
        at += timedelta(hours=rng.choice([3, 20, 30, 70, 160, 400]))
        amount = Decimal(rng.randint(100, 9000)) / 100
        pid = f"{member}-p{n}"
        events.append((at, purchase(member, pid, amount, at)))
        bought.append((pid, amount, amount))
        if rng.random() < 0.25:
            i = rng.randrange(len(bought))
            pid_r, amt, left = bought[i]
            part = (
                left
                if rng.random() < 0.4
                else (left * Decimal(rng.randint(1, 9)) / 10).quantize(Decimal("0.01"))
            )
            if part > 0:
                at += timedelta(hours=1)
                events.append((at, refund(member, f"{member}-r{n}", pid_r, part, at)))
                bought[i] = (pid_r, amt, left - part)
    return events


def good_traffic(rng: random.Random, members: int) -> list[tuple[datetime, str, dict[str, Any]]]:
    timeline = [
        (at, f"m{i}", event) for i in range(members) for at, event in member_history(rng, f"m{i}")
    ]
    return sorted(timeline, key=lambda x: x[0])


def with_redeliveries(rng: random.Random, timeline: list[Any]) -> list[Message]:
    """Each event as sent, then again verbatim, and purchases once more under a new id."""
    messages: list[Message] = []
    later: list[Message] = []
    for _, member, event in timeline:
        key = member.encode()
        messages.append((key, encode(event)))
        later.append((key, encode(event)))
        if event["type"].endswith("completed.v1"):
            messages.append((key, encode({**event, "id": f"resent-{event['id']}"})))
    # Verbatim redeliveries arrive late, after everything else of the member.
    rng.shuffle(later)
    return messages + later


def bad_messages(timeline: list[Any]) -> dict[str, list[Message]]:
    at = START + timedelta(days=200)
    _, member, first = next(x for x in timeline if x[2]["type"].endswith("completed.v1"))
    key = member.encode()
    first_purchase = first["data"]

    def p(**data: Any) -> dict[str, Any]:
        event = purchase(member, "bad-p", "10.00", at)
        event["data"].update(data)
        return event

    no_zone = purchase(member, "bad-time", "10.00", at)
    no_zone["time"] = "2026-11-23T10:15:00"
    wrong_subject = purchase(member, "bad-subject", "10.00", at)
    wrong_subject["subject"] = "someone-else"
    unknown = purchase(member, "bad-type", "10.00", at)
    unknown["type"] = "loyalty.purchase.teleported.v1"
    padded = purchase(member, "bad-huge", "10.00", at)
    padded["padding"] = "x" * 300_000  # valid but for its size
    line = {"sku": "S", "quantity": 1, "unit_price": "0.02"}
    return {
        "invalid_json": [(key, b"{not json"), (key, b"\xff\xfe")],
        "schema_violation": [
            (key, b"[1, 2, 3]"),
            (key, encode(p(amount="10.001"))),
            (key, encode(p(amount="-5.00"))),
            (key, encode(p(amount="0"))),
            (key, encode(p(amount="1000000.01"))),
            (key, encode(p(amount=12.5))),
            (key, encode(p(purchase_id="has space"))),
            (key, encode(no_zone)),
            (key, encode(wrong_subject)),
            (key, encode(p(items=[line] * 501))),
        ],
        "too_large": [(key, encode(padded))],
        "unknown_type": [(key, encode(unknown))],
        "wrong_currency": [(key, encode(p(currency="EUR")))],
        "unknown_purchase": [
            (key, encode(refund(member, "bad-r1", "no-such-purchase", "1.00", at)))
        ],
        "refund_exceeds_purchase": [
            (key, encode(refund(member, "bad-r2", first_purchase["purchase_id"], "1000000.00", at)))
        ],
        "key_mismatch": [(b"other-member", encode(purchase(member, "bad-key", "10.00", at)))],
        "conflicting_duplicate": [
            (key, encode(purchase(member, first_purchase["purchase_id"], "999.99", at)))
        ],
    }
