"""The points service's events: one per ledger entry, on `points.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from loyalty_kernel.events.envelope import CloudEvent, derived_event_id
from loyalty_kernel.events.points import (
    POINTS_EVENT_TYPES,
    POINTS_SOURCE,
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


def entry_event_bytes(entry: LedgerEntry) -> bytes:
    """`entry_event(entry).to_bytes()`, written without building the models: the
    consumer publishes one for every entry it makes, and the models cost most of a
    batch's save. `tests/points/service_layer/test_event_bytes.py` holds the two to the
    same bytes. Entries at moments outside UTC take the models' path."""
    at, lot = entry.occurred_at, entry.lot
    if at.utcoffset() or (lot is not None and not _utc(lot.vests_at, lot.expires_at)):
        return entry_event(entry).to_bytes()
    data: dict[str, Any] = {
        "member_id": entry.member_id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "available_after": entry.available_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
        "store_id": entry.store_id,
        "lots": [{"lot_id": lot_id, "points": points} for lot_id, points in entry.lots],
    }
    if entry.kind is EntryKind.EARNED and entry.tier is not None and lot is not None:
        data |= {"tier": entry.tier, "lot_id": lot.lot_id, "vests_at": lot.vests_at,
                 "expires_at": lot.expires_at,
                 "programme_version": entry.programme_version or "",
                 "rules": list(entry.rules)}  # fmt: skip
    elif entry.kind in _MOMENTS and lot is not None and entry.reference == lot.lot_id:
        data |= {"lot_id": lot.lot_id, "points": lot.points, "vests_at": lot.vests_at,
                 "expires_at": lot.expires_at}  # fmt: skip
    kind = entry.kind.value
    about: tuple[str, ...] = (entry.reference,)
    if entry.store_id is not None and entry.purchase_id is not None:
        about = (entry.store_id, entry.purchase_id, entry.reference)
    envelope = {
        "specversion": "1.0",
        "id": derived_event_id(kind, *about),
        "source": POINTS_SOURCE,
        "type": POINTS_EVENT_TYPES[kind],
        "time": at,
        "subject": entry.member_id,
        "datacontenttype": "application/json",
        "data": data,
    }
    return orjson.dumps(envelope, option=orjson.OPT_UTC_Z)


def _utc(*moments: datetime | None) -> bool:
    return all(m is None or not m.utcoffset() for m in moments)
