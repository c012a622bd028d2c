"""Publish a JSON-lines file of CloudEvents to a topic, keyed by member, at a chosen pace."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from io import BufferedReader
from pathlib import Path
from typing import Any

from loyalty_platform.kafka import make_producer, member_key
from loyalty_platform.settings import KafkaSettings

# Deliveries are awaited in batches so a long replay does not hold every future in memory.
_DELIVERY_BATCH = 5_000
# A stall (a slow broker, a busy loop) may be caught up by at most this much of a burst.
_BURST_SECONDS = 0.05


def read_jsonl(path: str | Path) -> Iterator[bytes]:
    """The non-blank lines of a JSON-lines file (`-` for standard input), without line ends."""
    with _open(path) as lines:
        for line in lines:
            if line.strip():
                yield line.rstrip(b"\r\n")


async def publish_events(
    lines: Iterable[bytes],
    *,
    bootstrap_servers: str,
    topic: str,
    rate: float | None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Send each line to `topic` at `rate` per second (None: at once); return how many."""
    pace = TokenBucket(rate) if rate is not None else None
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap_servers))
    await producer.start()
    try:
        sent = 0
        deliveries: list[asyncio.Future[Any]] = []
        for line in lines:
            if pace is not None:
                await pace.take()
            deliveries.append(await producer.send(topic, line, key=message_key(line)))
            sent += 1
            if on_sent is not None:
                on_sent(sent)
            if len(deliveries) >= _DELIVERY_BATCH:
                await _delivered(deliveries)
        await _delivered(deliveries)
    finally:
        await producer.stop()
    return sent


def message_key(line: bytes) -> bytes | None:
    """The member id of an event line as a message key; None when there is none to find."""
    try:
        event = json.loads(line)
    except ValueError:
        # Bad input is still replayed on purpose: it exercises the dead-letter path.
        return None
    member = _member_of(event) if isinstance(event, dict) else None
    return member_key(member) if member else None


class TokenBucket:
    """Paces to `rate` per second on the loop clock, so sleeps do not add up to drift."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be greater than 0")
        self._rate = rate
        self._capacity = max(1.0, rate * _BURST_SECONDS)
        self._tokens = 1.0
        self._last: float | None = None

    async def take(self) -> None:
        """Wait until one message may go."""
        self._refill()
        while self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self._rate)
            self._refill()
        self._tokens -= 1

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._last is not None:
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now


def _member_of(event: dict[str, Any]) -> str | None:
    member = event.get("subject")
    if not isinstance(member, str) or not member:
        data = event.get("data")
        member = data.get("member_id") if isinstance(data, dict) else None
    return member if isinstance(member, str) and member else None


async def _delivered(deliveries: list[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*deliveries)
    deliveries.clear()


def _open(path: str | Path) -> BufferedReader:
    if str(path) == "-":
        return open(sys.stdin.fileno(), "rb", closefd=False)
    return open(path, "rb")
