"""Running the tier service in-process for tests, on the real database and broker."""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import select

from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage, Item, refuse_oversized
from loyalty_platform.settings import KafkaSettings
from loyalty_tiers.adapters.orm import ConsumerProgressRow, MemberRow, OutboxRow, TierChangeRow
from loyalty_tiers.bootstrap import TiersService, build
from loyalty_tiers.service_layer.unit_of_work import TiersUnitOfWork
from loyalty_tiers.settings import TiersSettings
from tests.support import waiting
from tests.support.programme import ReferencePurchase, tier_as_of


def tiers_settings(database_url: str, kafka: KafkaSettings, **overrides: object) -> TiersSettings:
    """Event time only, so a replay is deterministic; a consumer group of the test's own,
    with the shortest session the settings allow (the embedded broker takes about half a
    session to let a consumer join)."""
    fields: dict[str, object] = {
        "consumer_group": f"tiers-{kafka.topic_prefix}",
        "clock": "event",
        "session_timeout_seconds": 6,
    }
    return TiersSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: TiersSettings) -> TiersService:
    service = build(settings)
    await service.start()
    return service


wait_applied = partial(waiting.wait_applied, progress_table=ConsumerProgressRow)
wait_outbox_empty = partial(waiting.wait_outbox_empty, outbox_table=OutboxRow)


def expected_tiers(timeline: list[Any], partition_of: Callable[[bytes], int]) -> dict[str, str]:
    """Each member's reference tier as of their partition's latest event time."""
    history: dict[str, dict[str, ReferencePurchase]] = defaultdict(dict)
    watermark: dict[int, datetime] = {}
    for at, member, event in timeline:
        d = event["data"]
        p = partition_of(member.encode())
        watermark[p] = max(watermark.get(p, at), at)
        if event["type"].endswith("completed.v1"):
            history[member][d["purchase_id"]] = ReferencePurchase(at, Decimal(d["amount"]))
        else:
            history[member][d["purchase_id"]].refunds.append((at, Decimal(d["amount"])))
    return {
        m: tier_as_of(list(bought.values()), watermark[partition_of(m.encode())])
        for m, bought in history.items()
    }


async def snapshot(uow: Callable[[], TiersUnitOfWork]) -> tuple[list[Any], list[Any], list[bytes]]:
    """The tier changes, the members' standings and the staged tier events, in order."""
    async with uow() as u:
        changes = (await u.session.execute(
            select(TierChangeRow.member_id, TierChangeRow.sequence, TierChangeRow.from_tier,
                   TierChangeRow.to_tier, TierChangeRow.effective_at, TierChangeRow.cause,
                   TierChangeRow.qualifying_spend)
            .order_by(TierChangeRow.member_id, TierChangeRow.sequence)
        )).all()  # fmt: skip
        members = (await u.session.execute(
            select(MemberRow.member_id, MemberRow.tier, MemberRow.since, MemberRow.drops_at)
            .order_by(MemberRow.member_id)
        )).all()  # fmt: skip
        events = sorted(await u.session.scalars(
            select(OutboxRow.value).where(OutboxRow.topic.like("%tiers.events"))
        ))  # fmt: skip
    return [tuple(c) for c in changes], [tuple(m) for m in members], events


PARTITIONS = 3


def partition_of(key: bytes | None) -> int:
    return zlib.crc32(key or b"") % PARTITIONS


def as_inbound(
    messages: list[tuple[bytes | None, bytes]],
    topic: str = "purchases",
    offsets: dict[int, int] | None = None,
) -> list[Item[object]]:
    """Messages as the consumer would hand them over: partitioned by key, offsets in
    order, continuing from `offsets` (which it moves on) when given."""
    offsets = offsets if offsets is not None else defaultdict(int)
    out = []
    for key, value in messages:
        p = partition_of(key)
        message = InboundMessage(topic, p, offsets[p], key, value, 0, "log-1")
        offsets[p] += 1
        out.append(refuse_oversized(message) or translate_purchase(message))
    return out
