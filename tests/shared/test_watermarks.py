"""Partition watermarks: forward only, and a live sweep moves only partitions that have
had a purchase."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty_kernel.watermarks import PartitionWatermarks

T = datetime(2026, 1, 5, tzinfo=UTC)


def test_a_watermark_never_goes_back() -> None:
    marks = PartitionWatermarks.of({0: T})
    marks.advance(0, T - timedelta(days=3))
    assert marks.at(0) == T
    assert marks.advanced([(0, T + timedelta(hours=1))]).at(0) == T + timedelta(hours=1)
    assert marks.at(0) == T  # advanced() leaves the original as it was


def test_a_sweep_moves_partitions_with_purchases_and_leaves_the_empty_ones_alone() -> None:
    now = T + timedelta(days=300)
    swept = PartitionWatermarks.of({0: T, 1: None, 2: now + timedelta(minutes=1)}).swept_to(now)
    assert swept.at(0) == now
    assert swept.at(1) is None  # a history loaded into it later is not late
    assert swept.at(2) == now + timedelta(minutes=1)
