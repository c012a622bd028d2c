"""The backtest's measures, on examples worked by hand and on their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_churn.domain.calibration import Logistic
from loyalty_churn.domain.evaluation import (
    brier,
    calibration_table,
    lost_revenue_caught,
    roc_auc,
    top_share,
)


def test_auc_counts_pairs_ranked_right_with_ties_as_half() -> None:
    # churners scored 0.9 and 0.4; stayers 0.4 and 0.1: pairs (0.9>0.4, 0.9>0.1,
    # 0.4=0.4 half, 0.4>0.1) = 3.5 of 4
    assert roc_auc([0.9, 0.4, 0.4, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)
    assert roc_auc([0.3, 0.2], [1, 1]) is None


def test_the_top_share_gives_precision_recall_and_the_revenue_it_catches() -> None:
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    labels = [1, 0, 1, 1, 0, 0, 1, 0, 0, 0]
    revenue = [10, 99, 0, 30, 5, 5, 60, 1, 1, 1]
    assert top_share(scores, labels, 0.2) == (0.5, 0.25)
    assert top_share(scores, labels, 0.4) == (0.75, 0.75)
    # churners' revenue 10 + 0 + 30 + 60 = 100; the top 40% holds 10 + 0 + 30
    assert lost_revenue_caught(scores, labels, revenue, 0.4) == pytest.approx(0.4)
    assert brier([1.0, 0.0, 0.5], [1, 0, 1]) == pytest.approx(0.25 / 3)


scored = st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.booleans()), min_size=2, max_size=60
).filter(lambda rows: 0 < sum(y for _, y in rows) < len(rows))


@given(scored)
def test_auc_of_a_perfect_ranking_is_one_and_reversing_scores_mirrors_it(rows) -> None:
    s = np.array([x for x, _ in rows])
    y = np.array([float(v) for _, v in rows])
    auc = roc_auc(s, y)
    assert auc is not None
    assert roc_auc(-s, y) == pytest.approx(1 - auc)
    assert roc_auc(y, y) == 1.0


@given(scored)
def test_recall_never_falls_as_the_share_grows(rows) -> None:
    s = np.array([x for x, _ in rows])
    y = np.array([float(v) for _, v in rows])
    recalls = [top_share(s, y, share)[1] for share in (0.1, 0.2, 0.5, 1.0)]
    assert recalls == sorted(recalls)
    assert recalls[-1] == 1.0


def test_logistic_recovers_known_weights_and_is_calibrated() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20_000, 3))
    true = 1.5 * X[:, 0] - 0.8 * X[:, 1] + 0.0 * X[:, 2] - 0.5
    y = (rng.random(20_000) < 1 / (1 + np.exp(-true))).astype(float)
    model = Logistic.fit(X, y, ("a", "b", "c"), l2=0.1)
    # weights are on standardised features: scale back by each column's spread
    weights = np.array(model.weights) / np.array(model.scales)
    assert weights == pytest.approx([1.5, -0.8, 0.0], abs=0.08)
    for mean_score, observed, count in calibration_table(model.predict(X), y):
        if count > 500:
            assert mean_score == pytest.approx(observed, abs=0.04)
    again = Logistic.from_dict(model.to_dict())
    assert np.allclose(again.predict(X[:10]), model.predict(X[:10]))


def test_logistic_survives_one_class_and_constant_features() -> None:
    X = np.ones((30, 2))
    model = Logistic.fit(X, np.ones(30), ("a", "b"))
    assert np.all(model.predict(X) > 0.9)
