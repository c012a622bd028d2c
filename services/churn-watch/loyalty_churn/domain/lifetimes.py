"""Buy-till-you-die models of repeat buying (time in days).

Each member is summarised as (x, t_x, T): x repeat purchases (distinct purchase days
after the first), t_x the time from the first purchase to the last, T the time from
the first purchase to the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, gammaln

Floats = npt.NDArray[np.float64]


def _arrays(*values: Any) -> list[Floats]:
    return [np.asarray(v, dtype=np.float64) for v in values]


@dataclass(frozen=True)
class BgNbd:
    """Fader, Hardie & Lee's BG/NBD: purchases at a gamma-distributed rate while alive;
    after each purchase the member drops out with a beta-distributed probability."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: Any, t_x: Any, T: Any) -> BgNbd:
        x, t_x, T = _arrays(x, t_x, T)
        if len(x) == 0 or not np.any(T > 0):
            return cls(0.5, 15.0, 0.8, 4.0)
        scale = max(float(np.mean(T)), 1.0)

        def loss(logs: Floats) -> float:
            r, alpha, a, b = np.exp(logs)
            return -float(np.sum(_bgnbd_log_likelihood(r, alpha * scale, a, b, x, t_x, T)))

        start = np.log([1.0, 0.1, 1.0, 3.0])
        found = minimize(loss, start, method="Nelder-Mead",
                         options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-6})  # fmt: skip
        r, alpha, a, b = (float(v) for v in np.exp(np.clip(found.x, -20, 20)))
        return cls(r, alpha * scale, a, b)

    def p_alive(self, x: Any, t_x: Any, T: Any) -> Floats:
        x, t_x, T = _arrays(x, t_x, T)
        log_ratio = (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
        odds = np.where(
            x > 0,
            np.exp(
                np.clip(
                    np.log(self.a) - np.log(np.maximum(self.b + x - 1, 1e-12)) + log_ratio,
                    -700,
                    700,
                )
            ),
            0.0,
        )
        return np.asarray(1.0 / (1.0 + odds), dtype=np.float64)

    def p_no_purchase(self, x: Any, t_x: Any, T: Any, horizon: float) -> Floats:
        """Probability of no purchase in (T, T + horizon]: gone, or alive and quiet."""
        x, t_x, T = _arrays(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        quiet = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + horizon)))
        return np.asarray(1.0 - alive + alive * quiet, dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BgNbd:
        return cls(float(data["r"]), float(data["alpha"]), float(data["a"]), float(data["b"]))


def _bgnbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, T: Floats
) -> Floats:
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    stays = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    dropped = np.where(
        x > 0,
        betaln(a + 1, np.maximum(b + x - 1, 1e-12)) - betaln(a, b) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return np.asarray(common + np.logaddexp(stays, dropped), dtype=np.float64)
