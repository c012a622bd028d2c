"""How an entry's lot allocations are written: the one-lot shortcut writes exactly
what the JSON encoder would, and anything else goes through the encoder."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from loyalty_points.adapters.lots import allocations_json, allocations_of

_IDS = st.uuids().map(str) | st.text(max_size=12)
_ALLOCATIONS = st.lists(st.tuples(_IDS, st.integers(-(10**12), 10**12)), max_size=4)


@given(_ALLOCATIONS)
def test_allocations_are_written_as_the_json_encoder_writes_them(moved):
    text = allocations_json(moved)
    assert text == json.dumps([[lot_id, points] for lot_id, points in moved])
    assert allocations_of(text) == tuple(moved)
