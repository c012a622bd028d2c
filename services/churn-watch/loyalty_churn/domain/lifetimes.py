"""Buy-till-you-die models of repeat buying (time in days).

Each member is summarised as (x, t_x, T): x repeat purchases (distinct purchase days
after the first), t_x the time from the first purchase to the last, T the time from
the first purchase to the cutoff.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import betaln, gammaincinv, gammaln, hyp2f1

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

    def p_no_purchase_one(self, x: float, t_x: float, T: float, horizon: float) -> float:
        """`p_no_purchase` for one member, without array overheads (the consumer's path)."""
        alive = 1.0
        if x > 0:
            log_odds = (
                math.log(self.a)
                - math.log(max(self.b + x - 1, 1e-12))
                + (self.r + x) * (math.log(self.alpha + T) - math.log(self.alpha + t_x))
            )
            alive = 1.0 / (1.0 + math.exp(min(max(log_odds, -700.0), 700.0)))
        quiet = math.exp(
            (self.r + x) * (math.log(self.alpha + T) - math.log(self.alpha + T + horizon))
        )
        return 1.0 - alive + alive * quiet

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


# A fixed two-dimensional low-discrepancy set: the same points for every member and
# every run, so the Pareto/NBD expectation below is deterministic.
_QUADRATURE_POINTS = 64


def _halton(count: int, base: int) -> Floats:
    points = np.zeros(count)
    for i in range(count):
        f, n, value = 1.0, i + 1, 0.0
        while n:
            f /= base
            value += f * (n % base)
            n //= base
        points[i] = value
    return points


_U, _V = _halton(_QUADRATURE_POINTS, 2), _halton(_QUADRATURE_POINTS, 3)
_FIT_SAMPLE = 20_000


@dataclass(frozen=True)
class ParetoNbd:
    """Schmittlein, Morrison & Colombo's Pareto/NBD: purchases at a gamma-distributed
    rate while alive, and a lifetime that ends at an exponential moment, its rate
    gamma-distributed too. A comparison baseline for the backtest."""

    r: float
    alpha: float
    s: float
    beta: float

    @classmethod
    def fit(cls, x: Any, t_x: Any, T: Any) -> ParetoNbd:
        x, t_x, T = _arrays(x, t_x, T)
        if len(x) == 0 or not np.any(T > 0):
            return cls(0.5, 15.0, 0.5, 100.0)
        if len(x) > _FIT_SAMPLE:  # the parameters are the population's: a sample will do
            pick = np.random.default_rng(0).choice(len(x), _FIT_SAMPLE, replace=False)
            x, t_x, T = x[pick], t_x[pick], T[pick]
        scale = max(float(np.mean(T)), 1.0)

        def loss(logs: Floats) -> float:
            r, alpha, s, beta = np.exp(logs)
            # Off the data's support a term can be undefined: that guess loses.
            with np.errstate(invalid="ignore", over="ignore"):
                ll = _pareto_log_likelihood(r, alpha * scale, s, beta * scale, x, t_x, T)
            total = float(np.sum(ll))
            return -total if np.isfinite(total) else 1e300

        start = np.log([1.0, 0.1, 1.0, 1.0])
        found = minimize(loss, start, method="Nelder-Mead",
                         options={"maxiter": 3000, "xatol": 1e-5, "fatol": 1e-5})  # fmt: skip
        r, alpha, s, beta = (float(v) for v in np.exp(np.clip(found.x, -20, 20)))
        return cls(r, alpha * scale, s, beta * scale)

    def p_alive(self, x: Any, t_x: Any, T: Any) -> Floats:
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        log_a0 = _pareto_log_a0(r, alpha, s, beta, x, t_x, T)
        stays = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        log_odds = np.log(s / (r + s + x)) + log_a0 - stays
        return np.asarray(1.0 / (1.0 + np.exp(np.clip(log_odds, -700, 700))), dtype=np.float64)

    def p_no_purchase(self, x: Any, t_x: Any, T: Any, horizon: float) -> Floats:
        """Gone by T, or alive and making no purchase before the horizon ends or the
        lifetime does; the expectation over the rates is taken on fixed points."""
        x, t_x, T = _arrays(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        rate = gammaincinv((self.r + x)[:, None], _U[None, :]) / (self.alpha + T)[:, None]
        death = gammaincinv(self.s, _V)[None, :] / (self.beta + T)[:, None]
        both = rate + death
        quiet = death / both * (1 - np.exp(-both * horizon)) + np.exp(-both * horizon)
        return np.asarray(1.0 - alive + alive * quiet.mean(axis=1), dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}


def _pareto_log_a0(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, T: Floats
) -> Floats:
    """log of Fader & Hardie's A0 (2005 note), which splits on whether alpha >= beta."""
    rho = r + s + x
    b: Floats | float
    if alpha >= beta:
        b, base, shift = s + 1, alpha, alpha - beta
    else:
        b, base, shift = r + x, beta, beta - alpha

    def log_term(t: Floats) -> Floats:
        value = hyp2f1(rho, b, rho + 1, shift / (base + t))
        return np.asarray(np.log(np.maximum(value, 1e-300)) - rho * np.log(base + t))

    at_last, at_end = log_term(t_x), log_term(T)
    gap = np.clip(at_end - at_last, None, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(at_last + np.log(-np.expm1(np.minimum(gap, -1e-300))))


def _pareto_log_likelihood(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, T: Floats
) -> Floats:
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    stays = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    leaves = np.log(s / (r + s + x)) + _pareto_log_a0(r, alpha, s, beta, x, t_x, T)
    return np.asarray(common + np.logaddexp(stays, leaves), dtype=np.float64)
