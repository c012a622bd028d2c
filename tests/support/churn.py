"""Running the churn watch in-process for tests, on the real database and broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import select

from loyalty_churn.adapters.orm import (
    AlertRevisionRow,
    AlertRow,
    ConsumerProgressRow,
    MemberRow,
    OutboxRow,
)
from loyalty_churn.bootstrap import ChurnWatchService, build
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_kernel.programme import Programme
from loyalty_platform.settings import KafkaSettings
from tests.support import waiting
from tests.support.events import iso


def churn_settings(
    database_url: str, kafka: KafkaSettings, **overrides: object
) -> ChurnWatchSettings:
    """Event time only, so a replay is deterministic; a consumer group of the test's own,
    with the shortest session the settings allow (the embedded broker takes about half a
    session to let a consumer join). The constructed histories run up to two years from
    2025, past today's date: the future-time guard allows a year ahead here (an 8999
    stamp is still refused)."""
    programme = Programme(max_future_seconds=366 * 86_400)
    fields: dict[str, object] = {
        "consumer_group": f"churn-{kafka.topic_prefix}",
        "clock": "event",
        "programme": programme,
        "session_timeout_seconds": 6,
    }
    return ChurnWatchSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: ChurnWatchSettings) -> ChurnWatchService:
    service = build(settings)
    await service.start()
    return service


wait_applied = partial(waiting.wait_applied, progress_table=ConsumerProgressRow)
wait_outbox_empty = partial(waiting.wait_outbox_empty, outbox_table=OutboxRow)


def partition_finder(kafka: KafkaSettings) -> Callable[[str], int]:
    """Which partition the producer puts a member's messages on."""
    partitioner = DefaultPartitioner()
    partitions = list(range(kafka.topic_partitions))
    return lambda member: partitioner(member.encode(), partitions, partitions)  # type: ignore[no-any-return]


def member_on_each_partition(kafka: KafkaSettings, prefix: str) -> list[str]:
    """One member id per partition: their purchases move every partition's clock."""
    find = partition_finder(kafka)
    found: dict[int, str] = {}
    n = 0
    while len(found) < kafka.topic_partitions:
        found.setdefault(find(f"{prefix}-{n}"), f"{prefix}-{n}")
        n += 1
    return [found[p] for p in sorted(found)]


def tier_changed(
    member: str, sequence: int, at: datetime, from_tier: str, to_tier: str
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"tier-{member}-{sequence}",
        "source": "loyalty/tiers",
        "type": "loyalty.tier.changed.v1",
        "time": iso(at),
        "subject": member,
        "data": {
            "member_id": member, "from_tier": from_tier, "to_tier": to_tier,
            "direction": "down", "qualifying_spend": "0.00", "effective_at": iso(at),
            "sequence": sequence,
        },
    }  # fmt: skip


async def snapshot(uow: Callable[[], ChurnUnitOfWork]) -> tuple[list[Any], list[Any]]:
    """Every alert (without its database id) with its revisions, and every member's
    clock and score."""
    async with uow() as u:
        alerts = (await u.session.execute(
            select(AlertRow.member_id, AlertRow.opened_at, AlertRow.revision, AlertRow.severity,
                   AlertRow.score, AlertRow.signals, AlertRow.value_at_risk, AlertRow.resolved_at,
                   AlertRow.alert_id)
            .order_by(AlertRow.member_id, AlertRow.opened_at)
        )).all()  # fmt: skip
        history: dict[int, list[Any]] = {}
        for r in (await u.session.scalars(
            select(AlertRevisionRow).order_by(AlertRevisionRow.alert_id, AlertRevisionRow.revision)
        )).all():  # fmt: skip
            history.setdefault(r.alert_id, []).append(
                (r.revision, r.move, r.at.isoformat(), r.severity, r.score, r.signals_added,
                 r.signals_removed, r.cause)
            )  # fmt: skip
        members = (await u.session.execute(
            select(MemberRow.member_id, MemberRow.clock, MemberRow.due_at, MemberRow.score)
            .order_by(MemberRow.member_id)
        )).all()  # fmt: skip
    return [
        (*a[:5], json.dumps(a[5]), *a[6:8], json.dumps(history.get(a[8], []))) for a in alerts
    ], [tuple(m) for m in members]
