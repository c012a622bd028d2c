"""`loyalty dlq`: which letters are chosen and what is re-driven (pure), and a purchase
refused as stamped in the future, re-driven once its moment has come: applied once by
the real points service, however often it is re-driven."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from loyalty_cli.dlq import chosen, parse, read_letters, redrives
from loyalty_cli.main import app
from loyalty_kernel.events.dead_letters import dead_letter_event
from loyalty_kernel.messages import MAX_MESSAGE_BYTES, InboundMessage, Rejection
from loyalty_kernel.programme import Programme
from loyalty_points.adapters.orm import ConsumerProgressRow, LedgerEntryRow
from tests.support.events import encode, purchase
from tests.support.kafka import publish
from tests.support.points import points_settings, started

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def letter_of(message: InboundMessage, consumer: str, reason: str = "time_in_future"):
    event = dead_letter_event(message, consumer, Rejection(reason, "detail"))
    found = parse("purchases.dlq[0]@0", json.dumps(event.model_dump(mode="json")).encode())
    assert found is not None
    return found


def message(offset: int, value: bytes = b'{"a": 1}', key: bytes = b"m-1") -> InboundMessage:
    return InboundMessage("purchases", 0, offset, key, value, int(NOW.timestamp() * 1000))


def test_a_message_three_services_dead_lettered_is_redriven_once_with_its_bytes() -> None:
    original = message(7, b'{"exact": "bytes"}')
    letters = [letter_of(original, c) for c in ("points", "tiers", "churn-watch")]

    plan, refused = redrives(letters)

    assert refused == []
    [one] = plan
    assert (one.topic, one.key, one.value) == ("purchases", b"m-1", b'{"exact": "bytes"}')
    assert [letter.consumer for letter in one.letters] == ["points", "tiers", "churn-watch"]


def test_an_oversized_message_kept_in_part_is_refused_and_the_rest_redriven() -> None:
    big = message(3, b"x" * (MAX_MESSAGE_BYTES + 1))
    small = message(4)
    plan, refused = redrives([letter_of(big, "points"), letter_of(small, "points")])

    assert [r.value for r in plan] == [b'{"a": 1}']
    assert [r.original.offset for r in refused] == [3]
    assert refused[0].original.size == MAX_MESSAGE_BYTES + 1


def test_letters_are_chosen_by_reason_id_and_service_together() -> None:
    letters = [
        letter_of(message(1), "points", "time_in_future"),
        letter_of(message(2), "tiers", "time_in_future"),
        letter_of(message(3), "points", "schema_violation"),
    ]
    assert chosen(letters, reasons=["time_in_future"], consumers=["points"]) == letters[:1]
    assert chosen(letters, ids=[letters[2].letter_id]) == letters[2:]
    assert chosen(letters) == letters


def test_what_is_not_a_dead_letter_is_not_read_as_one() -> None:
    assert parse("x", b"not json") is None
    assert parse("x", b'{"type": "loyalty.points.earned.v1", "data": {}}') is None
    assert (
        parse("x", b'{"type": "loyalty.message.dead_lettered.v1", "data": {"consumer": 1}}') is None
    )


async def ledger_count(service, purchase_id: str) -> int:
    async with service.sessions() as session:
        query = select(func.count()).where(LedgerEntryRow.purchase_id == purchase_id)
        return int(await session.scalar(query) or 0)


async def until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)
    return found


@pytest.fixture
def cli_env(kafka, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", kafka.topic_prefix)


async def test_a_purchase_refused_as_early_is_applied_once_when_redriven(
    points_database, kafka, cli_env
):
    settings = points_settings(points_database, kafka, programme=Programme(max_future_seconds=0))
    service = await started(settings)
    try:
        stamped = datetime.now(UTC) + timedelta(seconds=3)
        event = purchase("m-early", "p-early", "25.00", stamped)
        await publish(kafka, kafka.topics.purchases, [(b"m-early", encode(event))])
        [letter] = await until(lambda: read_letters(kafka, timeout=10))
        assert (letter.consumer, letter.reason) == ("points", "time_in_future")
        assert await ledger_count(service, "p-early") == 0
        listed = await asyncio.to_thread(CliRunner().invoke, app, ["dlq", "list"])
        assert listed.exit_code == 0, listed.output
        assert "time_in_future" in listed.output
        assert "1 dead letters (1 time_in_future)" in listed.output

        await asyncio.sleep(max(0.0, (stamped - datetime.now(UTC)).total_seconds()) + 0.5)
        for _ in range(2):  # re-driven twice: still applied once
            done = await asyncio.to_thread(
                CliRunner().invoke, app, ["dlq", "replay", "--reason", "time_in_future"]
            )
            assert done.exit_code == 0, done.output
            assert "re-drove 1 messages for 1 dead letters" in done.output
        await until(lambda: ledger_count(service, "p-early"))
        await until(lambda: _applied(service, 3))  # the original and both re-drives
        assert await ledger_count(service, "p-early") == 1
    finally:
        await service.stop()


async def _applied(service, offsets: int) -> bool:
    async with service.sessions() as session:
        applied = await session.scalar(select(func.sum(ConsumerProgressRow.next_offset)))
    return applied == offsets


def test_replay_names_its_letters() -> None:
    refused = CliRunner().invoke(app, ["dlq", "replay"])
    assert refused.exit_code != 0
    assert "--reason" in refused.output
