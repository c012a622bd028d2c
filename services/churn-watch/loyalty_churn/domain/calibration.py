"""Logistic calibration: turns features into a probability, learnt by penalised
maximum likelihood on standardised features."""

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


@dataclass(frozen=True)
class Logistic:
    names: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    @classmethod
    def fit(cls, X: Any, y: Any, names: tuple[str, ...], l2: float = 1.0) -> Logistic:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        means = X.mean(axis=0)
        scales = X.std(axis=0)
        scales[scales < 1e-12] = 1.0
        Z = (X - means) / scales
        n = len(y)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))

        def loss(theta: Floats) -> tuple[float, Floats]:
            w, b = theta[:-1], theta[-1]
            z = Z @ w + b
            # log(1 + e^z) - y z, stably
            nll = float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w @ w)
            p = expit(z)
            grad_w = Z.T @ (p - y) + l2 * w
            grad_b = float(np.sum(p - y))
            return nll / n, np.append(grad_w, grad_b) / n

        start = np.append(np.zeros(Z.shape[1]), np.log(rate / (1 - rate)))
        found = minimize(loss, start, jac=True, method="L-BFGS-B")
        theta = found.x
        return cls(
            tuple(names),
            tuple(float(v) for v in theta[:-1]),
            float(theta[-1]),
            tuple(float(v) for v in means),
            tuple(float(v) for v in scales),
        )

    def predict(self, X: Any) -> Floats:
        Z = (np.asarray(X, dtype=np.float64) - np.array(self.means)) / np.array(self.scales)
        return np.asarray(expit(Z @ np.array(self.weights) + self.intercept), dtype=np.float64)

    def predict_one(self, row: Sequence[float]) -> float:
        """`predict` for one row, without array overheads (the consumer's path)."""
        z = self.intercept + sum(
            w * (v - m) / sc
            for w, v, m, sc in zip(self.weights, row, self.means, self.scales, strict=True)
        )
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
            tuple(data["names"]),
            tuple(float(v) for v in data["weights"]),
            float(data["intercept"]),
            tuple(float(v) for v in data["means"]),
            tuple(float(v) for v in data["scales"]),
        )
