"""`loyalty dlq`: the dead letters on `purchases.dlq`, listed, and re-driven once
their cause is fixed.

Re-driving publishes a letter's original bytes, with its original key, back onto the
topic it came from. Every consumer sees it again: the ones that applied it the first
time recognise it by its event and business ids and skip it, the one that refused it
decides again. So a re-driven message is applied once, however often it is re-driven.
A message dead-lettered by several consumers is re-driven once; a letter that kept only
the first bytes of an oversized message cannot be re-driven and is refused.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from loyalty_kernel.events.dead_letters import DEAD_LETTERED, DeadLettered, OriginalMessage
from loyalty_platform.published_log import read_to_end
from loyalty_platform.settings import KafkaSettings

# Names the dead letter a re-driven message came from (`<dlq>[<partition>]@<offset>`).
REDRIVEN_HEADER = "loyalty-redriven-from"


@dataclass(frozen=True)
class DeadLetter:
    """One letter on the dead-letter topic, and where it sits there."""

    letter_id: str
    time: datetime
    consumer: str
    reason: str
    detail: str
    original: OriginalMessage
    where: str  # `<dlq>[<partition>]@<offset>`

    @property
    def origin(self) -> str:
        o = self.original
        return f"{o.topic}[{o.partition}]@{o.offset}"


@dataclass(frozen=True)
class Redrive:
    """A message to publish again, and the letters it answers for."""

    topic: str
    key: bytes | None
    value: bytes
    letters: tuple[DeadLetter, ...]


def parse(where: str, value: bytes) -> DeadLetter | None:
    """The letter in a dead-letter topic's message; None for anything else there."""
    try:
        event = json.loads(value)
        if not isinstance(event, dict) or event.get("type") != DEAD_LETTERED:
            return None
        data = DeadLettered.model_validate(event.get("data"))
        return DeadLetter(
            str(event["id"]),
            datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")),
            data.consumer,
            data.reason,
            data.detail,
            data.original,
            where,
        )
    except (ValueError, KeyError, TypeError, ValidationError):
        return None


def chosen(
    letters: Iterable[DeadLetter],
    *,
    reasons: Sequence[str] = (),
    ids: Sequence[str] = (),
    consumers: Sequence[str] = (),
) -> list[DeadLetter]:
    """The letters that match every filter given (an empty filter matches all)."""
    return [
        letter
        for letter in letters
        if (not reasons or letter.reason in reasons)
        and (not ids or letter.letter_id in ids)
        and (not consumers or letter.consumer in consumers)
    ]


def redrives(letters: Iterable[DeadLetter]) -> tuple[list[Redrive], list[DeadLetter]]:
    """What to publish again, one message per original (several consumers may have
    dead-lettered it), in the order the originals arrived; and the letters refused
    because they kept only part of their message."""
    by_original: dict[tuple[str, int, int, str], list[DeadLetter]] = {}
    refused = []
    for letter in letters:
        o = letter.original
        if o.truncated:
            refused.append(letter)
        else:
            by_original.setdefault((o.topic, o.partition, o.offset, o.sha256), []).append(letter)
    out = []
    for (topic, _, _, _), same in sorted(by_original.items(), key=lambda item: item[0][:3]):
        o = same[0].original
        key = o.key.encode() if o.key is not None else None
        out.append(Redrive(topic, key, base64.b64decode(o.value_base64), tuple(same)))
    return out, refused


def by_reason(letters: Iterable[DeadLetter]) -> Counter[str]:
    return Counter(letter.reason for letter in letters)


async def read_letters(kafka: KafkaSettings, *, timeout: float = 60.0) -> list[DeadLetter]:
    """Every letter on the dead-letter topic, oldest first within each partition."""
    topic = kafka.topics.purchases_dlq
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []

    def each(tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        letter = parse(f"{tp.topic}[{tp.partition}]@{record.offset}", record.value or b"")
        if letter is not None:
            found.append(letter)

    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if parts:
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            await read_to_end(consumer, parts, each, timeout=timeout)
    finally:
        await consumer.stop()
    return sorted(found, key=lambda letter: letter.time)


async def publish(kafka: KafkaSettings, plan: Sequence[Redrive]) -> None:
    """Publish each message again, acknowledged by every replica before returning."""
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    try:
        for redrive in plan:
            header = (REDRIVEN_HEADER, redrive.letters[0].where.encode())
            await producer.send_and_wait(
                redrive.topic, redrive.value, key=redrive.key, headers=[header]
            )
    finally:
        await producer.stop()


dlq_app = typer.Typer(help="Dead letters: list them, re-drive them.", no_args_is_help=True)
console = Console()

Reasons = Annotated[
    list[str] | None, typer.Option("--reason", help="Only this reason (repeatable)")
]
Consumers = Annotated[
    list[str] | None, typer.Option("--consumer", help="Only letters of this service (repeatable)")
]


@dlq_app.command("list")
def list_letters(
    reason: Reasons = None,
    consumer: Consumers = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line")] = False,
) -> None:
    """The dead letters on the dead-letter topic (KAFKA_BOOTSTRAP_SERVERS), newest last,
    and how many there are of each reason."""
    letters = chosen(
        asyncio.run(read_letters(KafkaSettings())), reasons=reason or (), consumers=consumer or ()
    )
    shown = letters[-limit:]
    if as_json:
        for letter in shown:
            typer.echo(json.dumps(_as_json(letter)))
        return
    table = Table("time", "service", "reason", "original", "key", "detail", "id", box=None)
    for letter in shown:
        table.add_row(
            letter.time.isoformat(timespec="seconds"),
            letter.consumer,
            letter.reason,
            letter.origin + (" (cut)" if letter.original.truncated else ""),
            (letter.original.key or "")[:24],
            letter.detail[:60],
            letter.letter_id,
        )
    console.print(table)
    counts = ", ".join(f"{n} {r}" for r, n in by_reason(letters).most_common())
    console.print(f"{len(letters)} dead letters ({counts or 'none'}); {len(shown)} shown")


@dlq_app.command("replay")
def replay(
    reason: Reasons = None,
    letter_id: Annotated[
        list[str] | None, typer.Option("--id", help="Only this letter (repeatable)")
    ] = None,
    consumer: Consumers = None,
    dry_run: Annotated[
        bool, typer.Option(help="Say what would be re-driven, publish nothing")
    ] = False,
) -> None:
    """Re-drive dead letters (by reason, by id, or both) once their cause is fixed: each
    original message goes back onto its topic once, and is applied once."""
    if not reason and not letter_id:
        raise typer.BadParameter("name the letters: --reason, --id or both")
    kafka = KafkaSettings()
    letters = chosen(
        asyncio.run(read_letters(kafka)),
        reasons=reason or (),
        ids=letter_id or (),
        consumers=consumer or (),
    )
    plan, refused = redrives(letters)
    for letter in refused:
        console.print(
            f"[yellow]not re-driven[/] {letter.letter_id} ({letter.origin}): the message was "
            f"{letter.original.size:,} bytes and only its first bytes were kept"
        )
    if not dry_run and plan:
        asyncio.run(publish(kafka, plan))
    verb = "would re-drive" if dry_run else "re-drove"
    console.print(
        f"{verb} {len(plan)} messages for {sum(len(r.letters) for r in plan)} dead letters; "
        f"{len(refused)} refused"
    )
    if refused and not plan:
        raise typer.Exit(1)


def _as_json(letter: DeadLetter) -> dict[str, object]:
    return {
        "id": letter.letter_id,
        "time": letter.time.isoformat(),
        "consumer": letter.consumer,
        "reason": letter.reason,
        "detail": letter.detail,
        "original": letter.origin,
        "key": letter.original.key,
        "size": letter.original.size,
        "truncated": letter.original.truncated,
        "letter": letter.where,
    }
