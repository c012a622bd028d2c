"""The consumer runner on the real broker, with a recording handler in place of a service."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from aiokafka.errors import KafkaError

from loyalty_kernel.messages import Consumed, InboundMessage, Item, Rejection
from loyalty_platform.consuming import BatchOutcome
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.runner import ConsumerRunner
from loyalty_platform.settings import KafkaSettings
from tests.support.kafka import publish


class RecordingHandler:
    """Remembers what it applied by position, as a service's database does."""

    def __init__(self, *, poison: set[bytes] = frozenset(), transient_failures: int = 0):
        self.applied: list[bytes] = []
        self.dead: list[tuple[bytes, str]] = []
        self.poison = set(poison)
        self.transient_failures = transient_failures
        self.broken = False
        self.done: set[tuple[int, int]] = set()

    async def apply(self, batch: Sequence[Item[bytes]]) -> BatchOutcome:
        if self.transient_failures:
            self.transient_failures -= 1
            raise ConnectionResetError("database went away")
        if self.broken or any(i.message.value in self.poison for i in batch):
            raise ValueError("cannot apply")
        fresh = [i for i in batch if (i.message.partition, i.message.offset) not in self.done]
        self.applied.extend(i.message.value for i in fresh)
        self.done.update((i.message.partition, i.message.offset) for i in fresh)
        return BatchOutcome.of(batch, fresh, 0, [])

    async def reject(self, message: InboundMessage, rejection: Rejection) -> None:
        if (message.partition, message.offset) not in self.done:
            self.dead.append((message.value, rejection.reason))
            self.done.add((message.partition, message.offset))

    async def positions(self, positions):
        return {}  # positions are not kept: every partition is taken to be new

    async def start_again(self, position, was) -> bool:
        return False


def as_is(message: InboundMessage) -> Consumed[bytes]:
    return Consumed(message, message.value)


# The embedded broker lets a consumer join a group in about half a session, and one that
# takes over from a member that left only after about two sessions: a short one here
# (the services' settings keep at least 6 s for real brokers).
SESSION_SECONDS = 2.0


def runner(kafka: KafkaSettings, handler, group: str, **options) -> ConsumerRunner:
    options.setdefault("session_timeout_seconds", SESSION_SECONDS)
    return ConsumerRunner(
        name="test", translators={kafka.topics.purchases: as_is}, group_id=group, kafka=kafka,
        handler=handler, metrics=ServiceMetrics("test"), **options,
    )  # fmt: skip


async def until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def values(n: int, prefix: str = "m") -> list[tuple[bytes, bytes]]:
    return [(f"k{i % 7}".encode(), f"{prefix}{i}".encode()) for i in range(n)]


async def test_offsets_are_committed_after_handling_so_a_restart_resumes_after_them(kafka):
    group = f"g-{uuid.uuid4().hex}"
    await publish(kafka, kafka.topics.purchases, values(50))
    first = RecordingHandler()
    r = runner(kafka, first, group)
    await r.start()
    await until(lambda: len(first.applied) == 50)
    await r.stop()

    await publish(kafka, kafka.topics.purchases, values(5, prefix="late"))
    second = RecordingHandler()
    r = runner(kafka, second, group)
    await r.start()
    await until(lambda: len(second.applied) == 5)
    await asyncio.sleep(0.5)
    await r.stop()
    assert sorted(second.applied) == sorted(v for _, v in values(5, prefix="late"))


async def test_a_poisonous_message_is_dead_lettered_and_the_rest_applied(kafka):
    handler = RecordingHandler(poison={b"m13"})
    await publish(kafka, kafka.topics.purchases, values(40))
    r = runner(kafka, handler, f"g-{uuid.uuid4().hex}")
    await r.start()
    await until(lambda: len(handler.applied) == 39)
    await r.stop()
    assert handler.dead == [(b"m13", "processing_error")]
    assert b"m13" not in handler.applied


async def test_transient_failures_are_retried_without_dead_letters(kafka):
    handler = RecordingHandler(transient_failures=3)
    await publish(kafka, kafka.topics.purchases, values(20))
    r = runner(kafka, handler, f"g-{uuid.uuid4().hex}")
    await r.start()
    await until(lambda: len(handler.applied) == 20)
    await r.stop()
    assert handler.dead == []


async def test_when_nothing_can_be_applied_it_stops_instead_of_dead_lettering(kafka):
    handler = RecordingHandler()
    handler.broken = True
    await publish(kafka, kafka.topics.purchases, values(30))
    r = runner(kafka, handler, f"g-{uuid.uuid4().hex}", stall_seconds=1.5)
    await r.start()
    await until(lambda: not r.is_healthy(), timeout=30)
    assert len(handler.dead) <= 3, "valid traffic was dead-lettered past the poison-run limit"

    handler.broken = False  # the fix is deployed
    await until(lambda: len(handler.applied) + len(handler.dead) == 30, timeout=60)
    await until(r.is_healthy)
    await r.stop()
    assert sorted(handler.applied + [v for v, _ in handler.dead]) == sorted(
        v for _, v in values(30)
    )


async def test_poisonous_messages_in_a_row_are_each_dead_lettered(kafka):
    # One at a time, so each arrives in a batch of its own: nothing carries over.
    poison = {b"m3", b"m4", b"m9", b"m10"}
    handler = RecordingHandler(poison=poison)
    await publish(kafka, kafka.topics.purchases, [(b"k", f"m{i}".encode()) for i in range(14)])
    r = runner(kafka, handler, f"g-{uuid.uuid4().hex}", batch_size=1)
    await r.start()
    await until(lambda: len(handler.applied) + len(handler.dead) == 14)
    await r.stop()
    assert sorted(v for v, _ in handler.dead) == sorted(poison)


async def test_a_failing_fetch_does_not_end_the_consumer(kafka):
    handler = RecordingHandler()
    r = runner(kafka, handler, f"g-{uuid.uuid4().hex}")
    await r.start()
    assert r._consumer is not None
    real, failures = r._consumer.getmany, [2]

    async def flaky(*args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise KafkaError("fetch failed")
        return await real(*args, **kwargs)

    r._consumer.getmany = flaky  # type: ignore[method-assign]
    await publish(kafka, kafka.topics.purchases, values(10))
    await until(lambda: len(handler.applied) == 10, timeout=60)
    assert r.is_healthy()
    await r.stop()
    assert failures == [0]


async def test_a_replica_that_owns_no_partition_is_not_ready(kafka):
    one = kafka.model_copy(
        update={"topic_prefix": f"one-{uuid.uuid4().hex[:8]}.", "topic_partitions": 1}
    )
    await ensure_topics(one, [one.topics.purchases])
    group = f"g-{uuid.uuid4().hex}"
    runners = [runner(one, RecordingHandler(), group, stall_seconds=2) for _ in range(2)]
    await asyncio.gather(*(r.start() for r in runners))  # together: one round of joining
    try:
        owners = lambda: [bool(r.assignment()) for r in runners]  # noqa: E731
        await until(lambda: sorted(owners()) == [False, True], timeout=60)
        await asyncio.sleep(2.5)
        assert [r.is_healthy() for r in runners] == owners()
    finally:
        for r in runners:
            await r.stop()
