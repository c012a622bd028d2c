"""The BG/NBD model: members who may leave right after each repeat purchase."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import betaincinv, betaln, digamma, expit, gammaln, hyp2f1

from loyalty_churn.domain.lifetimes.integrals import NODES, WEIGHTS
from loyalty_churn.domain.lifetimes.search import finite_or, logs_of, minimise, parameters_of
from loyalty_churn.domain.lifetimes.summaries import Floats, Summaries, as_floats

# BG/NBD's expectation divides by a - 1 and by a + b - 1 (at x = 0); near either zero
# it is read from both sides, where it is smooth.
_NEAR_SINGULAR = 1e-4


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD: purchases at rate lambda ~ Gamma(r, alpha) while alive; after each repeat
    purchase the member leaves with chance p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> BgNbd:
        """Maximum likelihood; the broad default when the data cannot tell."""
        data = Summaries.of(x, t_x, T)
        if not data.learnable:
            return BGNBD_DEFAULT
        total = float(data.members.sum())

        def loss(logs: Floats) -> tuple[float, Floats]:
            params = parameters_of(logs)
            r, alpha, a, b = (float(v) for v in params)
            ll, slopes = _bgnbd_log_likelihood(r, alpha, a, b, data.x, data.t_x, data.T)
            value = -float(data.members @ ll) / total
            if not math.isfinite(value):
                return 1e10, np.zeros(4)
            return value, -(slopes @ data.members) * params / total

        start = logs_of([1.0, 1.0 / data.purchase_rate, 0.8, 3.0])
        logs = finite_or(minimise(loss, start, gradient=True).x, start)
        return cls(*(float(v) for v in parameters_of(logs)))

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        """Probability the member has not left by T."""
        x, t_x, T = as_floats(x, t_x, T)
        with np.errstate(divide="ignore"):
            log_odds = np.where(
                x > 0,
                np.log(self.a / np.maximum(self.b + x - 1, 1e-300))
                + (self.r + x) * np.log((self.alpha + T) / (self.alpha + t_x)),
                -np.inf,
            )
        return np.asarray(expit(-log_odds), dtype=np.float64)

    def p_no_purchase(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike, horizon: float
    ) -> Floats:
        """Probability of no purchase in (T, T + horizon]: gone, or alive and quiet.
        Alive members leave only after buying, so a quiet one is still alive."""
        x, t_x, T = as_floats(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        quiet = ((self.alpha + T) / (self.alpha + T + horizon)) ** (self.r + x)
        return np.asarray(1.0 - alive * (1.0 - quiet), dtype=np.float64)

    def p_no_purchase_one(self, x: float, t_x: float, T: float, horizon: float) -> float:
        """`p_no_purchase` for one member in plain floats (the consumer's hot path)."""
        alive = 1.0
        if x > 0:
            log_odds = math.log(self.a / (self.b + x - 1)) + (self.r + x) * math.log(
                (self.alpha + T) / (self.alpha + t_x)
            )
            alive = 1.0 / (1.0 + math.exp(min(log_odds, 700.0)))
        quiet = float(((self.alpha + T) / (self.alpha + T + horizon)) ** (self.r + x))
        return 1.0 - alive * (1.0 - quiet)

    def expected_purchases(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike, horizon: float
    ) -> Floats:
        """Expected number of purchases in (T, T + horizon] (Fader, Hardie & Lee, eq. 10)."""
        x, t_x, T = as_floats(x, t_x, T)
        shape = x.shape
        x, t_x, T = np.atleast_1d(x, t_x, T)
        z = horizon / (self.alpha + T + horizon)
        a = self.a
        near = min(abs(a - 1), float(np.min(np.abs(a + self.b + x - 1), initial=1.0)))
        if near < _NEAR_SINGULAR:
            both = self._if_alive(a - 2 * _NEAR_SINGULAR, x, z)
            both += self._if_alive(a + 2 * _NEAR_SINGULAR, x, z)
            if_alive = both / 2
        else:
            if_alive = self._if_alive(a, x, z)
        lost = ~np.isfinite(if_alive)
        if np.any(lost):
            if_alive[lost] = self._if_alive_by_quadrature(x[lost], T[lost], horizon)
        return np.asarray(self.p_alive(x, t_x, T) * if_alive, dtype=np.float64).reshape(shape)

    def _if_alive(self, a: float, x: Floats, z: Floats) -> Floats:
        # Euler's transformation of the paper's 2F1(r+x, b+x; a+b+x-1; z) leaves no power
        # of (1 - z) that grows with x, so long histories and horizons cannot overflow.
        c = a + self.b + x - 1
        with np.errstate(all="ignore"):
            rest = (1 - z) ** (a - 1) * hyp2f1(a + self.b - 1 - self.r, a - 1, c, z)
            return np.asarray(c / (a - 1) * (1 - rest), dtype=np.float64)

    def _if_alive_by_quadrature(self, x: Floats, T: Floats, horizon: float) -> Floats:
        """The same where extreme parameters defeat 2F1. Alive, a member with rate lambda
        and dropout chance p makes (1 - e^-(lambda p h)) / p purchases on average, and
        alive means lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) apart: the
        expectation over lambda is closed, the one over p is taken at p's quantiles."""
        u = (1 + NODES[None, :]) / 2
        p = betaincinv(self.a, (self.b + x)[:, None], u)
        spread = (horizon / (self.alpha + T))[:, None]
        shape = (self.r + x)[:, None]
        with np.errstate(all="ignore"):
            per_p = -np.expm1(-shape * np.log1p(p * spread)) / p
        per_p = np.where(p > 0, per_p, shape * spread)  # the limit as p -> 0
        return np.asarray(per_p @ WEIGHTS / 2, dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BgNbd:
        return cls(float(data["r"]), float(data["alpha"]), float(data["a"]), float(data["b"]))


def _bgnbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, x: Floats, t_x: Floats, T: Floats
) -> tuple[Floats, Floats]:
    """Each row's log-likelihood and its slopes along (r, alpha, a, b)."""
    repeat = x > 0
    b_last = np.where(repeat, b + x - 1, b)  # any positive value where x = 0: unused
    stays = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    left = np.where(repeat, betaln(a + 1, b_last) - (r + x) * np.log(alpha + t_x), -np.inf)
    either = np.logaddexp(stays, left)
    w_stays, w_left = np.exp(stays - either), np.exp(left - either)
    ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b) + either
    all_ab = digamma(a + b + x)
    slopes = np.array(
        [
            digamma(r + x)
            - digamma(r)
            + np.log(alpha)
            - w_stays * np.log(alpha + T)
            - w_left * np.log(alpha + t_x),
            r / alpha - (r + x) * (w_stays / (alpha + T) + w_left / (alpha + t_x)),
            w_stays * (digamma(a) - all_ab)
            + w_left * (digamma(a + 1) - all_ab)
            - digamma(a)
            + digamma(a + b),
            w_stays * (digamma(b + x) - all_ab)
            + w_left * (digamma(b_last) - all_ab)
            - digamma(b)
            + digamma(a + b),
        ]
    )
    return np.asarray(ll, dtype=np.float64), slopes


BGNBD_DEFAULT = BgNbd(r=0.5, alpha=15.0, a=0.8, b=4.0)
