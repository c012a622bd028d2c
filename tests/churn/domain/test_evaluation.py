"""The backtest's measures, on examples worked by hand and on their invariants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_churn.domain.evaluation import (
    CalibrationBand,
    brier,
    calibration_table,
    lost_revenue_caught,
    roc_auc,
    top_share,
)

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
LABELS = [1, 0, 1, 1, 0, 0, 1, 0, 0, 0]


def test_auc_counts_pairs_ranked_right_with_ties_as_half() -> None:
    # churners 0.9 and 0.4, stayers 0.4 and 0.1: of 4 pairs, 3 right and 1 tied
    assert roc_auc([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)
    # of the 4 x 6 pairs in SCORES, the churners at 0.7, 0.6 and 0.3 lose 1, 1 and 3
    assert roc_auc(SCORES, LABELS) == pytest.approx(19 / 24)


def test_auc_needs_both_kinds_of_member() -> None:
    assert roc_auc([0.3, 0.2], [1, 1]) is None
    assert roc_auc([0.3, 0.2], [0, 0]) is None
    assert roc_auc([], []) is None


def test_the_top_share_gives_precision_recall_and_the_revenue_it_catches() -> None:
    revenue = [10, 99, 0, 30, 5, 5, 60, 1, 1, 1]
    assert top_share(SCORES, LABELS, 0.2) == (0.5, 0.25)
    assert top_share(SCORES, LABELS, 0.4) == (0.75, 0.75)
    # the churners' revenue is 10 + 0 + 30 + 60 = 100; the top 40% holds 10 + 0 + 30
    assert lost_revenue_caught(SCORES, LABELS, revenue, 0.4) == pytest.approx(0.4)
    assert lost_revenue_caught(SCORES, LABELS, revenue, 1.0) == pytest.approx(1.0)
    assert lost_revenue_caught(SCORES, [0] * 10, revenue, 0.4) == 0.0


def test_equal_scores_are_taken_in_the_order_given() -> None:
    assert top_share([0.5, 0.5, 0.5, 0.5], [0, 1, 1, 0], 0.5) == (0.5, 0.5)
    assert top_share([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], 0.5) == (1.0, 1.0)
    # a share of a handful rounds to the nearest member, and is never nobody
    assert top_share(SCORES, LABELS, 0.25) == (2 / 3, 0.5)
    assert top_share(SCORES, LABELS, 0.01) == (1.0, 0.25)


def test_brier_and_calibration_table_by_hand() -> None:
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)
    table = calibration_table([0.05, 0.15, 0.12, 0.95, 1.0], [0, 0, 1, 1, 1], bins=10)
    assert table == [
        CalibrationBand(0.05, 0.0, 1),
        CalibrationBand(pytest.approx(0.135), 0.5, 2),
        CalibrationBand(pytest.approx(0.975), 1.0, 2),
    ]


def test_measures_refuse_what_they_cannot_read() -> None:
    with pytest.raises(ValueError):
        roc_auc([0.1, 0.2], [1])
    with pytest.raises(ValueError):
        roc_auc([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError):
        top_share([0.1, 0.2], [1, 2], 0.5)
    with pytest.raises(ValueError):
        top_share([0.1, 0.2], [1, 0], 0.0)


# Scores on a grid: ties are common, and 1 - s keeps every distinct score distinct.
grid = st.integers(0, 40).map(lambda k: k / 40)
scored = st.lists(st.tuples(grid, st.booleans()), min_size=2, max_size=60).filter(
    lambda rows: 0 < sum(y for _, y in rows) < len(rows)
)


def columns(rows: list[tuple[float, bool]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([s for s, _ in rows]), np.array([float(y) for _, y in rows])


@given(scored)
def test_auc_is_the_share_of_pairs_ranked_right(rows) -> None:
    s, y = columns(rows)
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for (a, ya), (b, yb) in itertools.product(zip(s, y, strict=True), repeat=2)
        if ya == 1 and yb == 0
    ]
    assert roc_auc(s, y) == pytest.approx(sum(pairs) / len(pairs))


@given(scored)
def test_auc_of_a_perfect_ranking_is_one_and_reversed_scores_mirror_it(rows) -> None:
    s, y = columns(rows)
    auc = roc_auc(s, y)
    assert auc is not None
    assert roc_auc(1 - s, y) == pytest.approx(1 - auc)
    assert roc_auc(y, y) == 1.0
    assert roc_auc(1 - y, y) == 0.0


@given(scored, st.lists(st.floats(0, 1000, allow_nan=False), min_size=60, max_size=60))
def test_recall_and_revenue_caught_never_fall_as_the_share_grows(rows, money) -> None:
    s, y = columns(rows)
    revenue = np.array(money[: len(s)])
    shares = (0.05, 0.1, 0.2, 0.5, 0.9, 1.0)
    recalls = [top_share(s, y, share)[1] for share in shares]
    caught = [lost_revenue_caught(s, y, revenue, share) for share in shares]
    assert recalls == sorted(recalls)
    assert caught == sorted(caught)
    assert caught[-1] in (0.0, 1.0)  # all of it, exactly, whenever anything was lost
    assert recalls[-1] == 1.0
    assert top_share(s, y, 1.0)[0] == pytest.approx(y.mean())


@given(scored)
def test_calibration_table_accounts_for_every_member(rows) -> None:
    s, y = columns(rows)
    table = calibration_table(s, y, bins=5)
    assert sum(band.members for band in table) == len(s)
    assert sum(band.churn_rate * band.members for band in table) == pytest.approx(y.sum())
    assert all(0 <= band.mean_score <= 1 for band in table)
