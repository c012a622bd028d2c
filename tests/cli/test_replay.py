from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from loyalty_cli.replay import TokenBucket, message_key, publish_events, read_jsonl
from loyalty_cli.stack import EmbeddedBroker
from loyalty_cli.traffic import TrafficPlan, grocery_traffic, to_json_line
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.settings import KafkaSettings


async def fresh_topic(broker: EmbeddedBroker) -> str:
    name = f"replay-{uuid.uuid4().hex[:12]}"
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=3)
    await ensure_topics(settings, [name])
    return name


async def consume(
    broker: EmbeddedBroker, topic: str, expected: int
) -> list[tuple[bytes | None, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        group_id=f"replay-test-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[bytes | None, bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while len(received) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            received += [(m.key, m.value) for batch in batches.values() for m in batch]
    finally:
        await consumer.stop()
    return received


def write_traffic(path: Path, members: int = 12, days: int = 21) -> list[bytes]:
    plan = TrafficPlan(members=members, days=days, seed=11, start=datetime(2026, 11, 1, tzinfo=UTC))
    lines = [to_json_line(e) for e in grocery_traffic(plan)]
    path.write_bytes(b"\n".join(lines))
    return [line.rstrip(b"\n") for line in lines]


def test_read_jsonl_skips_blank_lines_and_drops_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n   \n{"b": 2}\nnot json')

    assert list(read_jsonl(path)) == [b'{"a": 1}', b'{"b": 2}', b"not json"]


def test_the_key_is_the_member_from_subject_or_data() -> None:
    assert message_key(b'{"subject": "member-1", "data": {"member_id": "x"}}') == b"member-1"
    assert message_key(b'{"data": {"member_id": "member-2"}}') == b"member-2"
    assert message_key(b'{"data": "member-3"}') is None
    assert message_key(b"[1, 2]") is None
    assert message_key(b"\xff not json") is None


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0)


async def test_a_file_arrives_whole_keyed_by_member_and_byte_identical(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic = await fresh_topic(broker)
    lines = write_traffic(tmp_path / "traffic.jsonl")
    progress: list[int] = []

    sent = await publish_events(
        read_jsonl(tmp_path / "traffic.jsonl"),
        bootstrap_servers=broker.bootstrap_servers,
        topic=topic,
        rate=None,
        on_sent=progress.append,
    )
    received = await consume(broker, topic, len(lines))

    assert sent == len(lines)
    assert progress == list(range(1, sent + 1))
    assert sorted(value for _, value in received) == sorted(lines)
    assert all(key == json.loads(value)["subject"].encode() for key, value in received)
    assert per_member(received) == per_member([(message_key(v), v) for v in lines])


async def test_a_line_that_is_not_json_is_sent_as_is_without_a_key(
    broker: EmbeddedBroker,
) -> None:
    topic = await fresh_topic(broker)
    bad = b'{"specversion": "1.0", truncated'

    await publish_events([bad], bootstrap_servers=broker.bootstrap_servers, topic=topic, rate=None)

    assert await consume(broker, topic, 1) == [(None, bad)]


async def test_a_rate_paces_the_messages(broker: EmbeddedBroker) -> None:
    topic = await fresh_topic(broker)
    lines = [json.dumps({"subject": f"member-{n % 7}", "n": n}).encode() for n in range(100)]

    began = time.monotonic()
    sent = await publish_events(
        lines, bootstrap_servers=broker.bootstrap_servers, topic=topic, rate=200
    )

    assert sent == 100
    assert time.monotonic() - began >= 0.4
    assert len(await consume(broker, topic, 100)) == 100


async def test_the_bucket_holds_its_rate_over_many_takes() -> None:
    bucket = TokenBucket(500)
    began = asyncio.get_running_loop().time()

    for _ in range(101):
        await bucket.take()

    assert asyncio.get_running_loop().time() - began >= 0.19


def per_member(messages: list[tuple[bytes | None, bytes]]) -> dict[bytes | None, list[bytes]]:
    by_member: defaultdict[bytes | None, list[bytes]] = defaultdict(list)
    for key, value in messages:
        by_member[key].append(value)
    return dict(by_member)
