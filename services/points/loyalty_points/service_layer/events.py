"""The points service's events: one per ledger entry, on `points.events`."""

from __future__ import annotations

from typing import Any

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.points import PointsAdjusted, PointsEarned, PointsMoved, points_event
from loyalty_points.domain.ledger import Adjustment, EntryKind, LedgerEntry


def entry_event(entry: LedgerEntry, adjustment: Adjustment | None = None) -> CloudEvent:
    """The event of a ledger entry; an adjustment's carries its reason and actor."""
    facts: dict[str, Any] = {
        "member_id": entry.member_id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
        "store_id": entry.store_id,
    }
    data: PointsMoved
    if entry.kind is EntryKind.EARNED and entry.tier is not None:
        data = PointsEarned(**facts, tier=entry.tier)
    elif adjustment is not None:
        data = PointsAdjusted(**facts, reason=adjustment.reason, actor=adjustment.actor)
    else:
        data = PointsMoved(**facts)
    return points_event(entry.kind.value, data, entry.occurred_at)
