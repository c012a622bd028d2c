"""Lot ids are uuid5 of what the lot is: the hot path works them out without
`uuid.UUID`, and must give the very ids every stored lot already has."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from loyalty_points.domain.lots import _LOT_IDS, LotSource, lot_id_for

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(_TEXT, st.sampled_from(list(LotSource)), st.none() | _TEXT, _TEXT)
def test_a_lot_id_is_the_uuid5_of_member_source_store_and_reference(
    member: str, source: LotSource, store: str | None, reference: str
) -> None:
    name = f"{member}\x1f{source.value}\x1f{store or ''}\x1f{reference}"
    assert lot_id_for(member, source, store, reference) == str(uuid.uuid5(_LOT_IDS, name))
