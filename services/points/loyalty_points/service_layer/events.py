"""The points service's events: one per ledger entry, on `points.events`."""

from __future__ import annotations

from typing import Any

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.points import (
    LotMoment,
    LotMoved,
    PointsAdjusted,
    PointsEarned,
    PointsMoved,
    points_event,
)
from loyalty_points.domain.entries import Adjustment, EntryKind, LedgerEntry

_MOMENTS = {EntryKind.VESTED, EntryKind.EXPIRING_SOON, EntryKind.EXPIRED}


def entry_event(entry: LedgerEntry, adjustment: Adjustment | None = None) -> CloudEvent:
    """The event of a ledger entry; an adjustment's carries its reason and actor."""
    facts: dict[str, Any] = {
        "member_id": entry.member_id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "available_after": entry.available_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
        "store_id": entry.store_id,
        "lots": [LotMoved(lot_id=lot_id, points=points) for lot_id, points in entry.lots],
    }
    lot = entry.lot
    data: PointsMoved
    if entry.kind is EntryKind.EARNED and entry.tier is not None and lot is not None:
        data = PointsEarned(**facts, tier=entry.tier, lot_id=lot.lot_id, vests_at=lot.vests_at,
                            expires_at=lot.expires_at,
                            programme_version=entry.programme_version or "",
                            rules=list(entry.rules))  # fmt: skip
    elif entry.kind in _MOMENTS and lot is not None and entry.reference == lot.lot_id:
        data = LotMoment(**facts, lot_id=lot.lot_id, points=lot.points, vests_at=lot.vests_at,
                         expires_at=lot.expires_at)  # fmt: skip
    elif adjustment is not None:
        data = PointsAdjusted(**facts, reason=adjustment.reason, actor=adjustment.actor)
    else:
        data = PointsMoved(**facts)
    return points_event(entry.kind.value, data, entry.occurred_at)
