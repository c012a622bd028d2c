"""The synthetic churn log: deterministic, in time order, valid for the intake, and
showing the churn it was made with."""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty_cli.churn_logs import synthetic_churn_log, write_jsonl
from loyalty_kernel.events.purchases import PURCHASE_COMPLETED, PURCHASE_TOPIC
from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import Consumed, InboundMessage

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 730
END = START + timedelta(days=DAYS)


def test_the_same_seed_gives_the_same_log_and_another_seed_another() -> None:
    first = [e.to_bytes() for e in synthetic_churn_log(200, START, DAYS, seed=3)]
    assert first == [e.to_bytes() for e in synthetic_churn_log(200, START, DAYS, seed=3)]
    assert first != [e.to_bytes() for e in synthetic_churn_log(200, START, DAYS, seed=4)]


def test_every_event_is_valid_in_time_order_and_refunds_never_exceed_their_purchase() -> None:
    log = list(synthetic_churn_log(300, START.astimezone(timezone(timedelta(hours=-5))), DAYS, 5))
    assert [e.time for e in log] == sorted(e.time for e in log)
    assert all(e.time.utcoffset() == timedelta(0) and START <= e.time < END for e in log)
    assert len({e.id for e in log}) == len(log)
    bought: dict[str, tuple[str, Decimal, datetime]] = {}
    refunded: dict[str, Decimal] = defaultdict(Decimal)
    for n, event in enumerate(log):
        message = InboundMessage("purchases", 0, n, event.subject.encode(), event.to_bytes(), 0)
        consumed = translate_purchase(message)
        assert isinstance(consumed, Consumed), consumed
        command = consumed.command
        assert isinstance(command, RecordPurchase | RecordRefund), command
        assert re.fullmatch(r"m-\d{6}", command.member_id)
        assert re.fullmatch(r"\d+\.\d\d", event.data["amount"])
        assert command.currency == "USD"
        if isinstance(command, RecordPurchase):
            assert re.fullmatch(r"store-\d+", command.store_id)
            assert command.purchase_id not in bought
            bought[command.purchase_id] = (command.member_id, command.amount, event.time)
        else:
            member, amount, when = bought[command.purchase_id]
            assert member == command.member_id
            assert when < event.time
            refunded[command.purchase_id] += command.amount
            assert refunded[command.purchase_id] <= amount
    assert len({member for member, _, _ in bought.values()}) == 300
    assert refunded


def visits_by_member() -> dict[str, list[tuple[datetime, Decimal, bool]]]:
    """Each member's purchases: when, how much, and whether it was refunded."""
    log = list(synthetic_churn_log(4_000, START, DAYS, seed=8))
    refunded = {e.data["purchase_id"] for e in log if e.type != PURCHASE_COMPLETED}
    visits: dict[str, list[tuple[datetime, Decimal, bool]]] = defaultdict(list)
    for e in log:
        if e.type == PURCHASE_COMPLETED:
            d = e.data
            visits[e.subject].append((e.time, Decimal(d["amount"]), d["purchase_id"] in refunded))
    return visits


def test_members_who_stop_buying_fade_first_and_some_come_back() -> None:
    """Members with no purchase in the log's last 200 days have left. Compared with their
    own earlier visits, their last three were smaller, further apart and more often
    returned than those of members still buying. Thresholds are a fraction of the
    differences the design implies, so that noise cannot cross them."""
    gone, staying = defaultdict(list), defaultdict(list)
    came_back = 0
    for visits in visits_by_member().values():
        if len(visits) < 8:
            continue
        times = [t for t, _, _ in visits]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        came_back += max(gaps[:-1]) > 150 * 86_400 and END - times[-1] < timedelta(days=60)
        side = gone if END - times[-1] > timedelta(days=200) else staying
        earlier, last = visits[:-3], visits[-3:]
        spend = statistics.mean(a for _, a, _ in last) / statistics.mean(a for _, a, _ in earlier)
        side["basket"].append(math.log(spend))
        side["gap"].append(math.log(statistics.mean(gaps[-2:]) / statistics.mean(gaps[:-2])))
        side["refunds"].append(sum(r for _, _, r in last) / 3)
    mean = statistics.mean
    assert mean(gone["basket"]) < mean(staying["basket"]) - 0.03
    assert mean(gone["gap"]) > mean(staying["gap"])
    assert mean(gone["refunds"]) > 1.5 * mean(staying["refunds"])
    assert came_back >= 20


def test_the_log_writes_as_json_lines_that_read_back(tmp_path: Path) -> None:
    events = list(synthetic_churn_log(20, START, 200, seed=1))
    path = tmp_path / "log.jsonl"
    assert write_jsonl(events, path) == len(events)
    lines = path.read_bytes().splitlines()
    assert [PURCHASE_TOPIC.validate_json(line).id for line in lines] == [e.id for e in events]


def test_a_start_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        next(synthetic_churn_log(5, datetime(2024, 1, 1), 30, seed=1))
