"""The consumer's event bytes, written without the models, are the models' bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_kernel.events.envelope import CloudEvent
from loyalty_kernel.events.points import PointsEarned
from loyalty_points.domain.entries import EntryKind, LedgerEntry
from loyalty_points.domain.lots import LotFacts
from loyalty_points.service_layer.events import entry_event, entry_event_bytes

ids = st.text("abcXYZ019._:-", min_size=1, max_size=20)
zones = st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-5)),
                         timezone(timedelta(hours=5, minutes=30))])  # fmt: skip
moments = st.builds(
    lambda base, zone: base.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    zones,
)
points = st.integers(-(10**9), 10**9)


@st.composite
def entries(draw: st.DrawFn) -> LedgerEntry:
    kind = draw(st.sampled_from(list(EntryKind)))
    lot = draw(st.none() | st.builds(LotFacts, ids, points, moments, st.none() | moments))
    reference = draw(ids)
    if lot is not None and kind in (EntryKind.VESTED, EntryKind.EXPIRING_SOON,
                                    EntryKind.EXPIRED) and draw(st.booleans()):  # fmt: skip
        reference = lot.lot_id  # a lot's own moment
    purchase_id = draw(st.none() | ids)
    return LedgerEntry(
        draw(ids), kind, draw(points), draw(points), reference, purchase_id, draw(moments),
        draw(st.none() | st.sampled_from(["opal", "pearl"])),
        draw(ids) if purchase_id is not None and draw(st.booleans()) else None,
        draw(points), draw(points), tuple(draw(st.lists(st.tuples(ids, points), max_size=3))),
        lot, draw(st.none() | ids), tuple(draw(st.lists(ids, max_size=3))),
    )  # fmt: skip


@settings(max_examples=400)
@given(entries())
def test_the_bytes_are_the_models_bytes(entry):
    assert entry_event_bytes(entry) == entry_event(entry).to_bytes()


def test_a_consumer_reads_them_back_with_the_models():
    at = datetime(2026, 11, 23, 10, 15, 0, 120000, tzinfo=UTC)
    lot = LotFacts("lot-1", 12, at + timedelta(days=7), None)
    entry = LedgerEntry("m-1", EntryKind.EARNED, 12, 12, "p-1", "p-1", at, "opal", "s-1", 0,
                        0, (("lot-1", 12),), lot, "2026-11", ("meat-3x",))  # fmt: skip
    raw = json.loads(entry_event_bytes(entry))
    event = CloudEvent.model_validate(raw)
    data = PointsEarned.model_validate(raw["data"])
    assert (event.type, event.time, event.subject) == ("loyalty.points.earned.v1", at, "m-1")
    assert (data.rules, data.expires_at, data.lot_id) == (["meat-3x"], None, "lot-1")
