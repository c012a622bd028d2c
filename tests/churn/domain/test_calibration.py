"""The logistic calibration: it finds the weights labels were drawn with, its
probabilities hold on members it has not seen, and odd training data does not break it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loyalty_churn.domain.calibration import InvalidTrainingData, Logistic

NAMES = ("gap_trend", "basket", "refunds", "constant")
# true model on raw features: logit = -0.5 + 1.5 gap_trend - 0.08 (basket - 50)
RAW_WEIGHTS = np.array([1.5, -0.08, 0.0, 0.0])


def members(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.column_stack(
        [
            rng.normal(0.0, 1.0, count),
            rng.normal(50.0, 10.0, count),
            rng.binomial(1, 0.3, count).astype(float),
            np.full(count, 7.0),
        ]
    )
    logit = -0.5 + (X[:, :2] - [0.0, 50.0]) @ RAW_WEIGHTS[:2]
    return X, (rng.random(count) < 1 / (1 + np.exp(-logit))).astype(float)


def test_it_finds_the_weights_the_labels_were_drawn_with() -> None:
    X, y = members(np.random.default_rng(1), 20_000)
    model = Logistic.fit(X, y, NAMES, l2=1.0)
    # per standardised feature; about four standard errors at this size
    assert model.weights == pytest.approx(RAW_WEIGHTS * np.array(model.scales), abs=0.08)
    raw_intercept = model.intercept - sum(
        w * m / s for w, m, s in zip(model.weights, model.means, model.scales, strict=True)
    )
    assert raw_intercept == pytest.approx(-0.5 + 0.08 * 50, abs=0.2)


def test_its_probabilities_hold_on_members_it_has_not_seen() -> None:
    rng = np.random.default_rng(2)
    model = Logistic.fit(*members(rng, 20_000), NAMES)
    X, y = members(rng, 20_000)
    p = model.predict(X)
    for band in np.array_split(np.argsort(p), 10):
        rate = y[band].mean()
        spread = math.sqrt(max(rate * (1 - rate), 0.01) / len(band))
        assert p[band].mean() == pytest.approx(rate, abs=4 * spread)


def test_labels_of_one_kind_give_an_intercept_only_model() -> None:
    X, _ = members(np.random.default_rng(3), 40)
    for label, expected in ((1.0, 40.5 / 41), (0.0, 0.5 / 41)):
        model = Logistic.fit(X, np.full(40, label), NAMES)
        assert model.weights == (0.0, 0.0, 0.0, 0.0)
        assert np.allclose(model.predict(X), expected)
    nobody = Logistic.fit(np.zeros((0, 4)), np.zeros(0), NAMES)
    assert nobody.predict(X[:3]) == pytest.approx([0.5] * 3)


def test_a_feature_that_never_varies_gets_no_weight_and_changes_nothing() -> None:
    X, y = members(np.random.default_rng(4), 2_000)
    with_it = Logistic.fit(X, y, NAMES)
    without = Logistic.fit(X[:, :3], y, NAMES[:3])
    assert with_it.weights[3] == 0.0
    assert with_it.scales[3] == 1.0
    assert np.allclose(with_it.predict(X), without.predict(X[:, :3]), atol=1e-6)


def test_the_penalty_pulls_weights_towards_zero() -> None:
    X, y = members(np.random.default_rng(5), 2_000)
    loose, tight = Logistic.fit(X, y, NAMES, l2=0.0), Logistic.fit(X, y, NAMES, l2=2_000.0)
    assert abs(tight.weights[0]) < 0.7 * abs(loose.weights[0])
    assert abs(tight.weights[1]) < 0.7 * abs(loose.weights[1])


def test_a_model_survives_storage_and_one_row_scores_as_the_list_does() -> None:
    X, y = members(np.random.default_rng(6), 2_000)
    model = Logistic.fit(X, y, NAMES)
    again = Logistic.from_dict(model.to_dict())
    assert again == model
    assert np.allclose(model.predict(X[:50]), [model.predict_one(row) for row in X[:50]])
    assert model.predict_one([40.0, -900.0, 0.0, 7.0]) == pytest.approx(1.0)


def test_it_refuses_data_it_cannot_learn_from() -> None:
    X, y = members(np.random.default_rng(7), 10)
    with pytest.raises(InvalidTrainingData):
        Logistic.fit(X, y[:5], NAMES)
    with pytest.raises(InvalidTrainingData):
        Logistic.fit(X, y * 2, NAMES)
    with pytest.raises(InvalidTrainingData):
        Logistic.fit(X, y, NAMES[:2])
    with pytest.raises(ValueError):
        Logistic.fit(X, y, NAMES).predict(X[:, :2])
