"""The consumer runner every consuming service uses.

Fetch a batch, translate each message with its topic's translator, hand the batch to
the service's handler (which applies it in one database transaction), count what
happened, and only then commit the offsets. A failure of the database or the
broker is retried with backoff while readiness turns red; a message that breaks
the handler in any other way is isolated and dead-lettered, so nothing stalls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from loyalty_kernel.messages import InboundMessage, Item, Rejection, refuse_oversized
from loyalty_platform.consuming import BatchHandler, BatchOutcome, Translator
from loyalty_platform.known_logs import FETCH_WAIT_MS, KnownLogs, Records
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.settings import KafkaSettings
from loyalty_platform.settling import Settling

log = logging.getLogger(__name__)
T = TypeVar("T")

# serialization failure, deadlock, lock not available, statement timeout or cancelled
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
# connection exceptions; insufficient resources (disk full, out of memory, too many
# connections); the server shutting down, restarting or not accepting yet
_RETRYABLE_SQLSTATE_CLASSES = ("08", "53", "57P")


def is_transient(exc: BaseException) -> bool:
    """Failures of the infrastructure, worth retrying, as opposed to a bad message."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or _retryable_sqlstate(exc.orig)
    # The ledger's bulk statements use asyncpg directly, unwrapped by SQLAlchemy.
    if isinstance(exc, asyncpg.InterfaceError) or _retryable_sqlstate(exc):
        return True
    return isinstance(exc, OSError | TimeoutError | KafkaError)


def _retryable_sqlstate(exc: BaseException | None) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state in _RETRYABLE_SQLSTATES or state.startswith(_RETRYABLE_SQLSTATE_CLASSES)


class SystemicFailure(Exception):
    """Every message fails the handler: a bug or a broken dependency, not bad input."""


class ConsumerRunner:
    """Runs one consumer group member for a service until stopped.

    `translators` names the topics consumed, each with how its messages are read;
    `on_commit` is called after a batch that staged events or dead letters (it wakes
    the outbox relay).
    """

    def __init__(
        self,
        *,
        name: str,
        translators: Mapping[str, Translator[Any]],
        group_id: str,
        kafka: KafkaSettings,
        handler: BatchHandler[Any],
        metrics: ServiceMetrics,
        on_commit: Callable[[], None] = lambda: None,
        batch_size: int = 1000,
        stall_seconds: float = 30.0,
        poison_run_limit: int = 3,
        session_timeout_seconds: float = 10.0,
    ) -> None:
        self.name, self._translators, self._group = name, dict(translators), group_id
        self._topics = list(translators)
        self._kafka, self._handler, self._metrics = kafka, handler, metrics
        self._on_commit = on_commit
        self._batch_size, self._stall = batch_size, stall_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_progress = time.monotonic()
        self._poison_run = 0  # messages in a row that broke the handler, nothing applied between
        self._poison_run_limit = poison_run_limit
        self._pause = 1.0
        self._logs: KnownLogs | None = None
        self._session_ms = int(session_timeout_seconds * 1000)
        self._unassigned_since: float | None = time.monotonic()
        self._settling = Settling()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **self._kafka.client_options(),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=self._session_ms,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            heartbeat_interval_ms=self._session_ms // 3,
        )
        self._consumer.subscribe(self._topics)
        self._logs = await KnownLogs.start(self.name, self._consumer, self._handler, self._kafka)
        await self._consumer.start()
        self._last_progress = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.name}")

    async def stop(self) -> None:
        """Finish the batch in hand, commit it, leave the group."""
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=30)
            except TimeoutError:
                self._task.cancel()
        if self._consumer is not None:
            await self._consumer.stop()
        if self._logs is not None:
            await self._logs.close()

    def translate(self, messages: Sequence[InboundMessage]) -> list[Item[Any]]:
        """What each message turns out to be, read by its topic's translator."""
        return [refuse_oversized(m) or self._translators[m.topic](m) for m in messages]

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this group member owns right now."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def partition_count(self, topic: str) -> int | None:
        """How many partitions `topic` has, as far as the consumer's metadata knows."""
        found = self._consumer.partitions_for_topic(topic) if self._consumer else None
        return len(found) if found else None

    async def settled(self, topic: str) -> list[int]:
        """The partitions of `topic` read to the end and quiet (`Settling`)."""
        return await self._settling.settled(self._consumer, topic)

    def is_healthy(self) -> bool:
        """Running, polled or applied something within the stall limit, and owning a
        partition (none for that long: the group never let it in, or it is one replica
        more than there are partitions)."""
        alive = self._task is not None and not self._task.done()
        now = time.monotonic()
        since = self._unassigned_since
        owns_nothing_too_long = since is not None and now - since >= self._stall
        return alive and now - self._last_progress < self._stall and not owns_nothing_too_long

    async def _run(self) -> None:
        """Poll until stopped. Nothing ends this loop but `stop()`: a failure of the broker
        client (a fetch, a seek on a partition revoked meanwhile) is logged and retried."""
        self._pause = 1.0
        while not self._stopping:
            try:
                await self._poll()
            except Exception:
                log.exception(
                    "%s: consuming failed; polling again in %.0fs", self.name, self._pause
                )
                await asyncio.sleep(self._pause)
                self._pause = min(self._pause * 2, 30.0)

    async def _poll(self) -> None:
        assert self._consumer is not None
        assert self._logs is not None
        owned = self._consumer.assignment()
        if owned:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = time.monotonic()
        await self._logs.verify(owned)
        fetched = await self._consumer.getmany(timeout_ms=500, max_records=self._batch_size)
        self._settling.in_hand = bool(fetched)
        try:
            await self._apply_fetched(fetched)
        finally:
            self._settling.in_hand = False

    async def _apply_fetched(self, fetched: Records) -> None:
        assert self._consumer is not None
        assert self._logs is not None
        records = await self._logs.known(fetched) if fetched else {}
        self._settling.brought(records)
        if not records:
            self._last_progress = time.monotonic()
            return
        messages = [
            InboundMessage(
                m.topic,
                m.partition,
                m.offset,
                m.key,
                m.value or b"",
                m.timestamp,
                self._logs.log_id,
            )
            for tp, msgs in records.items()
            for m in msgs
        ]
        batch = self.translate(messages)
        try:
            with self._metrics.batch_seconds.time():
                await self._apply(batch)
        except Exception:
            # Rewind so the batch is fetched again rather than skipped by the next commit;
            # readiness turns red once this lasts longer than the stall limit.
            log.exception("%s: batch failed; fetching it again in %.0fs", self.name, self._pause)
            self._logs.rewind({tp: msgs[0].offset for tp, msgs in records.items()})
            await asyncio.sleep(self._pause)
            self._pause = min(self._pause * 2, 30.0)
            return
        self._pause = 1.0
        await self._commit({tp: msgs[-1].offset + 1 for tp, msgs in records.items()})
        self._last_progress = time.monotonic()

    async def _apply(self, batch: list[Item[Any]]) -> None:
        try:
            outcome = await self._retrying(lambda: self._handler.apply(batch))
        except Exception as exc:
            if is_transient(exc):  # only when stopping: leave the batch for the next owner
                raise
            await self._isolate(batch, exc)
            return
        if outcome.applied_by_topic:
            self._poison_run = 0
        self._count(outcome)

    def _count(self, outcome: BatchOutcome) -> None:
        m = self._metrics
        for counter, counts in (
            (m.messages_applied, outcome.applied_by_topic),
            (m.messages_skipped, outcome.skipped_by_topic),
            (m.messages_ignored, outcome.ignored_by_topic),
        ):
            for topic, n in counts.items():
                counter(topic).inc(n)
        for rejection in outcome.rejections:
            m.dead_letters(rejection.reason).inc()
        if outcome.published or outcome.rejections:
            self._on_commit()

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run `attempt` until it succeeds or fails for a reason other than the infrastructure."""
        delay = 0.2
        while True:
            try:
                return await attempt()
            except Exception as exc:
                if not is_transient(exc) or self._stopping:
                    raise
                self._metrics.batch_retries.inc()
                log.warning("%s: transient failure, retrying in %.1fs: %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _isolate(self, batch: list[Item[Any]], exc: Exception) -> None:
        """Apply one by one so a poisonous message cannot hold up the rest.

        A message that still breaks the handler alone is dead-lettered, unless
        `poison_run_limit` messages in a row have done so with nothing applied between:
        then the fault is taken to be the code's or a dependency's, not the messages',
        and the runner stops and retries instead of dead-lettering traffic.
        """
        if len(batch) > 1:
            for message in batch:
                await self._apply([message])
            return
        if self._poison_run >= self._poison_run_limit:
            raise SystemicFailure(
                f"{self._poison_run} messages in a row broke the handler"
            ) from exc
        log.error("%s: dead-lettering a message that broke the handler", self.name, exc_info=exc)
        why = Rejection("processing_error", f"{type(exc).__name__}: {exc}"[:1000])
        await self._retrying(lambda: self._handler.reject(batch[0].message, why))
        self._metrics.dead_letters(why.reason).inc()
        self._on_commit()
        self._poison_run += 1

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The database already holds the position; the next owner skips what we applied.
            log.warning("%s: offset commit failed after a rebalance: %s", self.name, exc)
