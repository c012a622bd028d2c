"""The intake's guard against moments in the future: a purchase or refund may be stamped
at most the programme's allowance after the receiving clock, and never later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from loyalty_kernel.intake.translation import PurchaseTranslator
from loyalty_kernel.messages import Consumed, InboundMessage, Unprocessable
from loyalty_kernel.programme import Programme
from tests.support.events import encode, purchase, refund

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
ALLOWANCE = Programme().max_future


def read(event: dict[str, object]) -> object:
    translate = PurchaseTranslator(ALLOWANCE, clock=lambda: NOW)
    return translate(InboundMessage("purchases", 0, 0, b"m-1", encode(event), 0))


def test_the_default_allowance_is_five_minutes():
    assert timedelta(seconds=300) == ALLOWANCE


@given(offset=st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=3650)))
def test_a_purchase_is_refused_exactly_when_stamped_beyond_the_allowance(offset):
    item = read(purchase("m-1", "p-1", "10.00", NOW + offset))
    if offset > ALLOWANCE:
        assert isinstance(item, Unprocessable)
        assert item.why.reason == "time_in_future"
    else:
        assert isinstance(item, Consumed)


def test_the_boundary_is_inclusive_to_the_microsecond():
    assert isinstance(read(purchase("m-1", "p-1", "10.00", NOW + ALLOWANCE)), Consumed)
    late = read(purchase("m-1", "p-1", "10.00", NOW + ALLOWANCE + timedelta(microseconds=1)))
    assert isinstance(late, Unprocessable)


def test_a_refund_from_the_future_is_refused_too():
    item = read(refund("m-1", "r-1", "p-1", "1.00", NOW + timedelta(days=1)))
    assert isinstance(item, Unprocessable)
    assert item.why.reason == "time_in_future"
    assert "after the receiving clock" in item.why.detail


def test_other_faults_keep_their_own_reason():
    item = read({"specversion": "1.0", "type": "nonsense"})
    assert isinstance(item, Unprocessable)
    assert item.why.reason != "time_in_future"


def test_event_times_are_held_in_utc_whatever_zone_the_till_wrote():
    event = purchase("m-1", "p-1", "10.00", NOW)
    event["time"] = "2026-11-23T14:00:00+02:00"
    got = read(event)
    assert isinstance(got, Consumed)
    assert got.command.occurred_at == NOW  # the same instant...
    assert got.command.occurred_at.tzinfo is UTC  # ...in one zone object, compared fast
    back = refund("m-1", "r-1", "p-1", "1.00", NOW)
    back["time"] = "2026-11-23T07:00:00-05:00"
    got_refund = read(back)
    assert isinstance(got_refund, Consumed)
    assert got_refund.command.occurred_at.tzinfo is UTC
