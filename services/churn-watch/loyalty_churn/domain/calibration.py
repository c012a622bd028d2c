"""Logistic calibration: features in, a probability out, learnt by L2-penalised maximum
likelihood on standardised features."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit

Floats = npt.NDArray[np.float64]


class InvalidTrainingData(ValueError):
    """The features and labels cannot be learnt from as given."""


@dataclass(frozen=True)
class Logistic:
    """P(label = 1) = expit(intercept + sum of weight * (feature - mean) / scale).

    Weights are per standardised feature, so the penalty treats every feature alike
    whatever its unit, and their sizes can be compared."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    @classmethod
    def fit(
        cls, X: npt.ArrayLike, y: npt.ArrayLike, names: Sequence[str], l2: float = 1.0
    ) -> Logistic:
        """Penalised maximum likelihood: the penalty is l2 / 2 times the squared weights.

        A feature that never varies gets weight 0; labels all of one kind give an
        intercept-only model."""
        features, labels = _training_data(X, y, names, l2)
        means = features.mean(axis=0) if len(labels) else np.zeros(len(names))
        spread = features.std(axis=0) if len(labels) else np.zeros(len(names))
        varies = spread > 1e-12 * np.maximum(1.0, np.abs(means))
        scales = np.where(varies, spread, 1.0)
        weights = np.zeros(len(names))
        intercept = _base_log_odds(labels)
        if varies.any() and 0 < labels.sum() < len(labels):
            standard = (features[:, varies] - means[varies]) / scales[varies]
            found = _penalised_fit(standard, labels, l2, intercept)
            weights[varies], intercept = found[:-1], float(found[-1])
        return cls(tuple(names), _floats(weights), intercept, _floats(means), _floats(scales))

    def predict(self, X: npt.ArrayLike) -> Floats:
        """Probability of label 1 for each row of X."""
        rows = np.asarray(X, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.names):
            raise ValueError(f"expected rows of {len(self.names)} features, got {rows.shape}")
        standard = (rows - np.array(self.means)) / np.array(self.scales)
        return np.asarray(expit(standard @ np.array(self.weights) + self.intercept))

    def predict_one(self, row: Sequence[float]) -> float:
        """`predict` for one row in plain floats (the consumer's hot path)."""
        z = self.intercept + sum(
            w * (v - m) / s
            for w, v, m, s in zip(self.weights, row, self.means, self.scales, strict=True)
        )
        # Two forms, so exp never overflows whatever the sign of z.
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "weights": list(self.weights),
            "intercept": self.intercept,
            "means": list(self.means),
            "scales": list(self.scales),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Logistic:
        return cls(
            tuple(str(n) for n in data["names"]),
            _floats(data["weights"]),
            float(data["intercept"]),
            _floats(data["means"]),
            _floats(data["scales"]),
        )


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _training_data(
    X: npt.ArrayLike, y: npt.ArrayLike, names: Sequence[str], l2: float
) -> tuple[Floats, Floats]:
    features = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    if features.ndim != 2 or features.shape != (len(labels), len(names)):
        raise InvalidTrainingData("need one row of len(names) features per label")
    if not (np.all(np.isfinite(features)) and np.all((labels == 0) | (labels == 1))):
        raise InvalidTrainingData("features must be finite and labels 0 or 1")
    if not l2 >= 0:
        raise InvalidTrainingData("the penalty must not be negative")
    return features, labels


def _base_log_odds(labels: Floats) -> float:
    ones, zeros = float(labels.sum()), float(len(labels) - labels.sum())
    if ones and zeros:
        return math.log(ones / zeros)
    # Half a member added to each side keeps the odds finite when every label agrees.
    return math.log((ones + 0.5) / (zeros + 0.5))


def _penalised_fit(standard: Floats, labels: Floats, l2: float, intercept: float) -> Floats:
    """Weights and intercept (last) minimising the penalised negative log-likelihood."""
    rows = len(labels)

    def loss(theta: Floats) -> tuple[float, Floats]:
        w, b = theta[:-1], theta[-1]
        z = standard @ w + b
        # log(1 + e^z) - y z, with logaddexp so that no e^z overflows
        value = float(np.sum(np.logaddexp(0.0, z) - labels * z) + 0.5 * l2 * (w @ w))
        residual = expit(z) - labels
        gradient = np.append(standard.T @ residual + l2 * w, residual.sum())
        return value / rows, gradient / rows

    start = np.append(np.zeros(standard.shape[1]), intercept)
    found = minimize(loss, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-10})
    return np.asarray(found.x, dtype=np.float64)
