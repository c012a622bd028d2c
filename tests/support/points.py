"""Running the points service in-process for tests, on the real database and broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from loyalty_platform.settings import KafkaSettings
from loyalty_points.adapters.orm import ConsumerProgressRow, OutboxRow
from loyalty_points.bootstrap import PointsService, build
from loyalty_points.settings import PointsSettings
from tests.support import waiting
from tests.support.events import encode, purchase, refund
from tests.support.programme import ReferenceLedger

START = datetime(2026, 10, 1, tzinfo=UTC)


def points_settings(database_url: str, kafka: KafkaSettings, **overrides: object) -> PointsSettings:
    """A consumer group of the test's own: the broker need not rebalance other tests away."""
    fields: dict[str, object] = {"consumer_group": f"points-{kafka.topic_prefix}"}
    return PointsSettings(database_url=database_url, kafka=kafka, **(fields | overrides))


async def started(settings: PointsSettings) -> PointsService:
    service = build(settings)
    await service.start()
    return service


wait_applied = partial(waiting.wait_applied, progress_table=ConsumerProgressRow)
wait_outbox_empty = partial(waiting.wait_outbox_empty, outbox_table=OutboxRow)


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
