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
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from loyalty_kernel.messages import InboundMessage, Item, Rejection, refuse_oversized
from loyalty_platform.consuming import BatchHandler, BatchOutcome, Translator
from loyalty_platform.kafka import described_cluster_id, ensure_topics
from loyalty_platform.metrics import ServiceMetrics
from loyalty_platform.progress import Applied
from loyalty_platform.settings import KafkaSettings

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


# The longest a fetch waits at the broker for records: also how long after a position
# is read a fetch answer is sure to have been asked for after it.
_FETCH_WAIT_MS = 300


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
        self._log_id: str | None = None  # the cluster the last fetch came from
        self._admin: AIOKafkaAdminClient | None = None
        self._verified: set[TopicPartition] = set()  # owned, and checked against the log
        self._next_fetch: dict[TopicPartition, int] = {}  # where each partition's next fetch starts
        # Partitions given to this member whose stored position is being checked against
        # the log: the position, and the time (ms) after which a fetch answer is fresh.
        self._checks: dict[TopicPartition, tuple[Applied, float]] = {}
        self._session_ms = int(session_timeout_seconds * 1000)
        self._unassigned_since: float | None = time.monotonic()

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **self._kafka.client_options(),
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=self._session_ms,
            fetch_max_wait_ms=_FETCH_WAIT_MS,
            heartbeat_interval_ms=self._session_ms // 3,
        )
        self._consumer.subscribe(self._topics)
        self._admin = AIOKafkaAdminClient(**self._kafka.client_options())
        await self._admin.start()
        self._log_id = await described_cluster_id(self._admin)
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
        if self._admin is not None:
            await self._admin.close()

    def translate(self, messages: Sequence[InboundMessage]) -> list[Item[Any]]:
        """What each message turns out to be, read by its topic's translator."""
        return [refuse_oversized(m) or self._translators[m.topic](m) for m in messages]

    def assignment(self) -> set[tuple[str, int]]:
        """The (topic, partition) pairs this group member owns right now."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

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
        owned = self._consumer.assignment()
        if owned:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = time.monotonic()
        await self._verify(owned)
        fetched = await self._consumer.getmany(timeout_ms=500, max_records=self._batch_size)
        records = await self._from_known_logs(fetched) if fetched else {}
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
                self._log_id,
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
            self._rewind({tp: msgs[0].offset for tp, msgs in records.items()})
            await asyncio.sleep(self._pause)
            self._pause = min(self._pause * 2, 30.0)
            return
        self._pause = 1.0
        await self._commit({tp: msgs[-1].offset + 1 for tp, msgs in records.items()})
        self._last_progress = time.monotonic()

    async def _verify(self, owned: set[TopicPartition]) -> None:
        """Check the partitions this member owns against their logs. A log that ends
        before where this member fetched it, or, for a partition just given to it, before
        the position the database holds, was deleted and made again on the same cluster:
        the partition is applied from its start again.

        The log's end is the high-water mark of the consumer's own fetches (the embedded
        broker answers ListOffsets a batch or so short of the end). For a
        position read from the database, only a fetch answered after that read counts:
        a log's end only grows, so such an end cannot be below the position unless the
        log is another one. (An end that came with an earlier fetch can be: another
        replica may have applied past it meanwhile.)"""
        assert self._consumer is not None
        self._verified &= owned
        self._next_fetch = {tp: n for tp, n in self._next_fetch.items() if tp in owned}
        self._checks = {tp: c for tp, c in self._checks.items() if tp in owned}
        for tp in list(self._verified):
            end = self._consumer.highwater(tp)
            if end is not None and end < self._next_fetch.get(tp, 0):
                self._verified.discard(tp)
        new = owned - self._verified - set(self._checks)
        if new:
            applied = await self._handler.positions([(tp.topic, tp.partition) for tp in new])
            answered_after = time.time() * 1000 + _FETCH_WAIT_MS + 200
            for tp in new:
                was = applied.get((tp.topic, tp.partition))
                if was is None or was.log_id != self._log_id:
                    self._verified.add(tp)  # nothing applied yet, or from another cluster
                else:
                    self._checks[tp] = (was, answered_after)
        for tp, (was, answered_after) in list(self._checks.items()):
            polled = self._consumer.last_poll_timestamp(tp)
            if polled is None or polled < answered_after:
                continue
            del self._checks[tp]
            self._verified.add(tp)
            end = self._consumer.highwater(tp)
            if end is not None and end < was.next_offset:
                await self._start_again(tp, was, end)

    async def _start_again(self, tp: TopicPartition, was: Applied, end: int) -> None:
        assert self._consumer is not None
        log.warning(
            "%s: %s[%d] ends at %d, before the %d applied: a new log; applying it from 0",
            self.name, tp.topic, tp.partition, end, was.next_offset,
        )  # fmt: skip
        if await self._handler.start_again((tp.topic, tp.partition), was):
            await self._consumer.seek_to_beginning(tp)
            self._next_fetch.pop(tp, None)

    async def _from_known_logs(
        self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """The fetched records whose log is known: from the cluster this member read
        before, of partitions it has checked. The cluster is asked after the fetch, so a
        broker replaced before or during it is seen (a new cluster id per start); then
        every partition is read again from its start, and the positions in the database,
        which name the old cluster, start at 0 too. Records held back are fetched again."""
        assert self._consumer is not None
        assert self._admin is not None
        first = {tp: msgs[0].offset for tp, msgs in records.items()}
        try:
            log_id = await described_cluster_id(self._admin)
        except Exception:
            self._rewind(first)
            raise
        if log_id != self._log_id:
            log.warning(
                "%s: the broker is another cluster (%s, was %s): its logs are new; reading "
                "every partition from its start", self.name, log_id, self._log_id,
            )  # fmt: skip
            self._log_id = log_id
            self._verified.clear()
            self._next_fetch.clear()
            await self._recreate_topics()
            owned = self._consumer.assignment()
            if owned:
                await self._consumer.seek_to_beginning(*owned)
            return {}
        for tp, offset in first.items():
            if offset < self._next_fetch.get(tp, 0):
                # The consumer went back by itself: its position was past the log's end
                # (a topic deleted and made again), so it started over. Check again.
                self._verified.discard(tp)
        self._rewind({tp: offset for tp, offset in first.items() if tp not in self._verified})
        known = {tp: msgs for tp, msgs in records.items() if tp in self._verified}
        self._next_fetch.update({tp: msgs[-1].offset + 1 for tp, msgs in known.items()})
        return known

    async def _recreate_topics(self) -> None:
        """A broker that lost its topics (the embedded one keeps them in memory) gets them
        back with the configured partitions, unless a client had them auto-created first."""
        try:
            await ensure_topics(self._kafka, self._kafka.topics.all())
        except KafkaError as exc:
            log.warning("%s: could not create the topics again: %s", self.name, exc)

    def _rewind(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        owned = self._consumer.assignment()
        for tp, offset in offsets.items():
            if tp in owned:  # a partition revoked meanwhile is its next owner's to fetch
                self._consumer.seek(tp, offset)
                self._next_fetch[tp] = offset

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
