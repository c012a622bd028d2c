"""Running the points service in-process for tests, on the real database and broker."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_kernel.programme import PointsLifecycle, Programme
from loyalty_platform.kafka import partition_of
from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import ConsumerProgressRow, LedgerEntryRow, LotRow, OutboxRow
from loyalty_points.bootstrap import PointsService, build, in_process_handler
from loyalty_points.settings import PointsSettings
from tests.support import waiting
from tests.support.events import encode, purchase, refund
from tests.support.programme import ReferenceLedger

START = datetime(2026, 10, 1, tzinfo=UTC)


# Points spendable the moment they are earned, as the model programme paid them: for
# tests about spending rather than the lifecycle (tests/points/*lifecycle* have that).
SPENDABLE_AT_ONCE = Programme(points=PointsLifecycle(pending_days=0))


def points_settings(database_url: str, kafka: KafkaSettings, **overrides: object) -> PointsSettings:
    """Event time only, so lots vest and expire as the log says, not as the wall clock
    moves (a test about the live sweeper asks for `clock="wall"`); a consumer group of
    the test's own, with the shortest session the settings allow."""
    fields: dict[str, object] = {
        "consumer_group": f"points-{kafka.topic_prefix}",
        "clock": "event",
        "session_timeout_seconds": 6,
    }
    return PointsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: PointsSettings) -> PointsService:
    service = build(settings)
    await service.start()
    return service


wait_applied = partial(waiting.wait_applied, progress_table=ConsumerProgressRow)
wait_outbox_empty = partial(waiting.wait_outbox_empty, outbox_table=OutboxRow)

# What two runs of one log must agree on, field by field: every entry, per member in
# the order made, and every lot.
Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


async def ledger_snapshot(session: AsyncSession) -> Snapshot:
    entries = [
        (e.member_id, e.kind, e.delta, e.balance_after, e.available_after, e.reference,
         e.purchase_id, e.store_id, e.occurred_at, json.dumps(e.lots), e.programme_version,
         e.rules)
        for e in await session.scalars(
            select(LedgerEntryRow).order_by(LedgerEntryRow.member_id, LedgerEntryRow.id))
    ]  # fmt: skip
    lots = [
        (lot.lot_id, lot.member_id, lot.points, lot.remaining, lot.vested, lot.warned,
         lot.expired, lot.vests_at, lot.expires_at)
        for lot in await session.scalars(select(LotRow).order_by(LotRow.lot_id))
    ]  # fmt: skip
    return entries, lots


async def undisturbed(
    database_url: str,
    messages: list[tuple[bytes, bytes]],
    partitions: int,
    batch: int = 250,
    programme: Programme | None = None,
) -> Snapshot:
    """The log applied in process, batch by batch, each message on the partition the
    broker gives its key: what a run that nothing interrupted records."""
    handler, engine = in_process_handler(database_url, programme)
    offsets: dict[int, int] = defaultdict(int)
    items = []
    for key, value in messages:
        partition = partition_of(key.decode(), partitions)
        message = InboundMessage("purchases", partition, offsets[partition], key, value, 0, "log")
        offsets[partition] += 1
        items.append(translate_purchase(message))
    try:
        for start in range(0, len(items), batch):
            outcome = await handler.apply(items[start : start + batch])
            assert outcome.rejections == []
        async with handler.uow() as uow:
            return await ledger_snapshot(uow.session)
    finally:
        await engine.dispose()


def traffic(members: int, per_member: int) -> tuple[list[tuple[bytes, bytes]], dict[str, int]]:
    """Purchases, and a refund of a third of every fifth, for each member in turn; with
    the balances the reference ledger gives them."""
    reference = ReferenceLedger()
    messages = []
    for n in range(per_member):
        for m in range(members):
            member = f"c{m}"
            at = START + timedelta(hours=n * 13 + m % 7)
            amount = Decimal(500 + (m * 37 + n * 91) % 9000) / 100
            pid = f"{member}-p{n}"
            messages.append((member.encode(), encode(purchase(member, pid, amount, at))))
            reference.purchase(member, pid, amount, at)
            if n % 5 == 4:
                back = (amount / 3).quantize(Decimal("0.01"))
                at_r = at + timedelta(minutes=5)
                messages.append(
                    (member.encode(), encode(refund(member, f"{pid}-r", pid, back, at_r)))
                )
                reference.refund(member, pid, back, at_r)
    return messages, reference.balances


def lifecycle_log(
    members: int,
    days: int,
    seed: int = 5,
    start: datetime = START,
    mean_gap_hours: float | None = None,
) -> list:
    """Purchases and some refunds of `members` over `days`, on two partitions, in time
    order per partition; the partitions' times interleave. Events come every 1 to 60
    hours, or `mean_gap_hours` apart on average."""
    rng = random.Random(seed)
    out, offsets = [], {0: 0, 1: 0}
    at = start
    bought: list[tuple[str, str]] = []
    while at < start + timedelta(days=days):
        gap = rng.randint(1, 60) if mean_gap_hours is None else rng.uniform(0, 2 * mean_gap_hours)
        at += timedelta(hours=gap)
        member = f"m-{rng.randrange(members)}"
        if bought and rng.random() < 0.15:
            who, pid = rng.choice(bought)
            event = refund(who, f"r-{len(out)}", pid, "1.00", at)
            member = who
        else:
            pid = f"p-{len(out)}"
            event = purchase(member, pid, f"{rng.randint(5, 80)}.00", at)
            bought.append((member, pid))
        partition = int(member[2:]) % 2
        out.append(InboundMessage("purchases", partition, offsets[partition],
                                  member.encode(), encode(event), 0, "log"))  # fmt: skip
        offsets[partition] += 1
    return out
