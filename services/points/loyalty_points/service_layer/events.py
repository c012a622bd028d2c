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
    PointsAdjusted,
    PointsEarned,
    PointsMoved,
    points_event,
    points_event_id_parts,
)
from loyalty_points.domain.entries import Adjustment, EntryKind, LedgerEntry

_MOMENTS = {EntryKind.VESTED, EntryKind.EXPIRING_SOON, EntryKind.EXPIRED}


def entry_event(entry: LedgerEntry, adjustment: Adjustment | None = None) -> CloudEvent:
    """The event of a ledger entry; an adjustment's carries its reason and actor."""
    model, fields = _data_of(entry)
    if model is PointsMoved and adjustment is not None:
        model = PointsAdjusted
        fields |= {"reason": adjustment.reason, "actor": adjustment.actor}
    return points_event(entry.kind.value, model(**fields), entry.occurred_at)


def entry_event_bytes(entry: LedgerEntry) -> bytes:
    """`entry_event(entry).to_bytes()`, written without building the models: the
    consumer publishes one for every entry it makes, and the models cost most of a
    batch's save. `tests/points/service_layer/test_event_bytes.py` holds the two to the
    same bytes. Entries at moments outside UTC take the models' path."""
    at, lot = entry.occurred_at, entry.lot
    if at.utcoffset() or (lot is not None and not _utc(lot.vests_at, lot.expires_at)):
        return entry_event(entry).to_bytes()
    kind = entry.kind.value
    parts = points_event_id_parts(kind, entry.reference, entry.store_id, entry.purchase_id)
    envelope = {
        "specversion": "1.0",
        "id": derived_event_id(*parts),
        "source": POINTS_SOURCE,
        "type": POINTS_EVENT_TYPES[kind],
        "time": at,
        "subject": entry.member_id,
        "datacontenttype": "application/json",
        "data": _data_of(entry)[1],
    }
    return orjson.dumps(envelope, option=orjson.OPT_UTC_Z)


def _data_of(entry: LedgerEntry) -> tuple[type[PointsMoved], dict[str, Any]]:
    """The model of the entry's event data and its fields, in the model's order."""
    fields: dict[str, Any] = {
        "member_id": entry.member_id,
        "delta": entry.delta,
        "balance_after": entry.balance_after,
        "available_after": entry.available_after,
        "reference": entry.reference,
        "purchase_id": entry.purchase_id,
        "store_id": entry.store_id,
        "lots": [{"lot_id": lot_id, "points": points} for lot_id, points in entry.lots],
    }
    lot = entry.lot
    if entry.kind is EntryKind.EARNED and entry.tier is not None and lot is not None:
        return PointsEarned, fields | {
            "tier": entry.tier, "lot_id": lot.lot_id, "vests_at": lot.vests_at,
            "expires_at": lot.expires_at, "programme_version": entry.programme_version or "",
            "rules": list(entry.rules),
        }  # fmt: skip
    if entry.kind in _MOMENTS and lot is not None and entry.reference == lot.lot_id:
        return LotMoment, fields | {
            "lot_id": lot.lot_id, "points": lot.points, "vests_at": lot.vests_at,
            "expires_at": lot.expires_at,
        }  # fmt: skip
    return PointsMoved, fields


def _utc(*moments: datetime | None) -> bool:
    return all(m is None or not m.utcoffset() for m in moments)
