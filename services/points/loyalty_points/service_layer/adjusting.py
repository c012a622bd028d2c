"""Adjusting a member's points by hand: ops' corrections and goodwill, each with a
reason and the key that made it.

One unit of work holding the member's balance row locked, as spending does, so an
adjustment queues behind the consumer and behind spends. The adjustment id makes it
idempotent (`requests`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from loyalty_kernel.topics import TopicNames
from loyalty_points.domain.entries import Adjustment
from loyalty_points.service_layer.events import entry_event
from loyalty_points.service_layer.requests import ReusedId, one_use_of, same_request
from loyalty_points.service_layer.unit_of_work import PointsUnitOfWork


@dataclass(frozen=True)
class AdjustPoints:
    adjustment_id: str
    member_id: str
    points: int
    reason: str
    actor: str


class AdjustmentConflict(ReusedId):
    """The adjustment id was used before, for other facts."""


class NoAccount(Exception):
    """The member has no points account to adjust."""


@dataclass
class Adjusting:
    uow: Callable[[], PointsUnitOfWork]
    topics: TopicNames

    async def adjust(self, cmd: AdjustPoints, now: datetime) -> tuple[Adjustment, bool]:
        """The adjustment, and whether this call made it (False: asked before)."""
        what = f"adjustment {cmd.adjustment_id}"
        with one_use_of(AdjustmentConflict, what):
            async with self.uow() as uow:
                # Locked first: a retry racing its original waits, then finds it.
                ledger = await uow.ledgers.for_adjusting(cmd.member_id)
                if ledger is None:
                    raise NoAccount(f"member {cmd.member_id} has no points account")
                known = await uow.ledgers.adjustment(cmd.adjustment_id)
                if known is not None:
                    facts = (known.member_id, known.points, known.reason)
                    asked = (cmd.member_id, cmd.points, cmd.reason)
                    return same_request(known, facts, asked, AdjustmentConflict, what), False
                adjustment = ledger.adjust(
                    cmd.adjustment_id, cmd.points, cmd.reason, cmd.actor, now
                )
                for entry in ledger.new_entries:
                    event = entry_event(entry, adjustment)
                    uow.outbox.add(self.topics.points_events, entry.member_id, event)
                await uow.ledgers.save([ledger])
                await uow.ledgers.add_adjustment(adjustment)
                await uow.commit()
                return adjustment, True
