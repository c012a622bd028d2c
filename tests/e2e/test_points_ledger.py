"""A few thousand purchases and refunds, every one redelivered, with every kind of bad
message mixed in: the ledger ends exactly where an independent computation says."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from loyalty_points.adapters.orm import BalanceRow, LedgerEntryRow
from tests.support.events import encode, purchase, refund
from tests.support.kafka import payloads, publish, read_topic
from tests.support.points import points_settings, started, wait_applied, wait_outbox_empty
from tests.support.programme import ReferenceLedger

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
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
        ],
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


def expected_balances(timeline: list[Any]) -> dict[str, int]:
    reference = ReferenceLedger()
    for at, member, event in timeline:
        d = event["data"]
        if event["type"].endswith("completed.v1"):
            reference.purchase(member, d["purchase_id"], Decimal(d["amount"]), at)
        else:
            reference.refund(member, d["purchase_id"], Decimal(d["amount"]), at)
    return reference.balances


async def test_balances_match_an_independent_computation(points_database, kafka):
    rng = random.Random(20261123)
    timeline = good_traffic(rng, members=300)
    good = with_redeliveries(rng, timeline)
    bad = bad_messages(timeline)
    bad_flat = [m for msgs in bad.values() for m in msgs]
    messages = good[: len(good) // 2] + bad_flat + good[len(good) // 2 :]
    assert len(timeline) > 2500

    service = await started(points_settings(points_database, kafka, batch_size=500))
    try:
        await publish(kafka, kafka.topics.purchases, messages)
        await wait_applied(service, len(messages), timeout=120)
        await wait_outbox_empty(service)

        async with service.sessions() as session:
            rows = await session.execute(select(BalanceRow.member_id, BalanceRow.balance))
            balances = dict(rows.all())
            rows = await session.execute(
                select(LedgerEntryRow.member_id, func.sum(LedgerEntryRow.delta)).group_by(
                    LedgerEntryRow.member_id
                )
            )
            sums = dict(rows.all())
            entries = await session.scalar(select(func.count()).select_from(LedgerEntryRow))
            tiers = set(await session.scalars(select(LedgerEntryRow.tier).distinct()))
        # Earning ran at every tier's multiplier, so the comparison covers the tier rule.
        assert {"opal", "pearl", "ruby", "diamond"} <= tiers
        expected = expected_balances(timeline)
        assert {m: b for m, b in expected.items() if b != 0 or m in balances} == balances
        assert sums == balances

        dead = payloads(await read_topic(kafka, kafka.topics.purchases_dlq, expect=len(bad_flat)))
        by_reason: dict[str, list[bytes]] = {}
        for letter in dead:
            assert letter["data"]["consumer"] == "points"
            original = base64.b64decode(letter["data"]["original"]["value_base64"])
            by_reason.setdefault(letter["data"]["reason"], []).append(original)
        assert {r: sorted(v) for r, v in by_reason.items()} == {
            r: sorted(value for _, value in msgs) for r, msgs in bad.items()
        }

        earned = payloads(await read_topic(kafka, kafka.topics.points_events, expect=entries))
        assert len(earned) == entries
        assert len({e["id"] for e in earned}) == entries

        # Still consuming: one more purchase lands.
        late = START + timedelta(days=300)
        await publish(
            kafka,
            kafka.topics.purchases,
            [(b"m0", encode(purchase("m0", "late-p", "10.00", late)))],
        )
        await wait_applied(service, len(messages) + 1)
        async with service.sessions() as session:
            assert (await session.get(BalanceRow, "m0")).balance == balances["m0"] + 10
    finally:
        await service.stop()
