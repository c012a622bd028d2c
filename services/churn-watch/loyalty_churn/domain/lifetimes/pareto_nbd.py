"""The Pareto/NBD model: members who leave at an exponential moment of their own."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit, gammaln

from loyalty_churn.domain.lifetimes.integrals import log_integral
from loyalty_churn.domain.lifetimes.search import (
    Loss,
    finite_or,
    logs_of,
    minimise,
    parameters_of,
    refine,
)
from loyalty_churn.domain.lifetimes.summaries import Floats, Summaries, as_floats

# Above this many distinct summaries, Pareto/NBD is first fitted on a sample: its
# likelihood costs two hypergeometric functions a row, so the fit on all of them
# should start close and take few steps.
_WARM_UP_ROWS = 10_000


@dataclass(frozen=True)
class ParetoNbd:
    """Pareto/NBD: purchases at rate lambda ~ Gamma(r, alpha) until an exponential
    moment of leaving with rate mu ~ Gamma(s, beta). A comparison baseline."""

    r: float
    alpha: float
    s: float
    beta: float

    @classmethod
    def fit(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> ParetoNbd:
        """Maximum likelihood; the broad default when the data cannot tell."""
        data = Summaries.of(x, t_x, T)
        if not data.learnable:
            return PARETO_DEFAULT
        mean_age = float(data.members @ data.T) / float(data.members.sum())
        start = logs_of([1.0, 1.0 / data.purchase_rate, 1.0, 2.0 * mean_age])
        if len(data.x) > _WARM_UP_ROWS:
            warm = minimise(_pareto_loss(data.sample(_WARM_UP_ROWS)), start, gradient=False)
            logs = refine(_pareto_loss(data), warm)
        else:
            logs = finite_or(minimise(_pareto_loss(data), start, gradient=False).x, start)
        return cls(*(float(v) for v in parameters_of(logs)))

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        """Probability the member has not left by T."""
        x, t_x, T = as_floats(x, t_x, T)
        stays, left = _pareto_branches(self.r, self.alpha, self.s, self.beta, x, t_x, T)
        return np.asarray(expit(stays - left), dtype=np.float64)

    def p_no_purchase(
        self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike, horizon: float
    ) -> Floats:
        """Probability of no purchase in (T, T + horizon]: gone by T, or alive and then
        either quiet throughout or leaving before buying again.

        Alive at T, lambda ~ Gamma(r + x, alpha + T) and mu ~ Gamma(s, beta + T) apart,
        and P(buy within h | lambda, mu) = int_0^h lambda e^-(lambda + mu) u du. Taking
        the expectation inside the integral gives (r + x) (alpha + T)^(r + x)
        (beta + T)^s int_0^h (alpha + T + u)^-(r + x + 1) (beta + T + u)^-s du."""
        x, t_x, T = as_floats(x, t_x, T)
        rate, death = self.alpha + T, self.beta + T
        with np.errstate(divide="ignore"):
            log_buys = (
                np.log(self.r + x)
                + (self.r + x) * np.log(rate)
                + self.s * np.log(death)
                + log_integral(self.r + x + 1, rate, self.s, death, np.zeros_like(T), horizon)
            )
        buys = np.clip(np.exp(log_buys), 0.0, 1.0)
        return np.asarray(1.0 - self.p_alive(x, t_x, T) * buys, dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParetoNbd:
        return cls(float(data["r"]), float(data["alpha"]), float(data["s"]), float(data["beta"]))


PARETO_DEFAULT = ParetoNbd(r=0.5, alpha=15.0, s=0.5, beta=200.0)


def _pareto_loss(data: Summaries) -> Loss:
    total = float(data.members.sum())

    def loss(logs: Floats) -> float:
        r, alpha, s, beta = (float(v) for v in parameters_of(logs))
        ll = _pareto_log_likelihood(r, alpha, s, beta, data.x, data.t_x, data.T)
        value = -float(data.members @ ll) / total
        return value if math.isfinite(value) else 1e10

    return loss


def _pareto_log_likelihood(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, T: Floats
) -> Floats:
    stays, left = _pareto_branches(r, alpha, s, beta, x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return np.asarray(common + np.logaddexp(stays, left), dtype=np.float64)


def _pareto_branches(
    r: float, alpha: float, s: float, beta: float, x: Floats, t_x: Floats, T: Floats
) -> tuple[Floats, Floats]:
    """The log-likelihood's two parts, without the common factor: still there at T, and
    gone at some moment in (t_x, T], which integrates to
    s int_{t_x}^T (alpha + u)^-(r + x) (beta + u)^-(s + 1) du."""
    stays = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    t_x = np.where(x > 0, t_x, 0.0)  # without a repeat purchase the last one was at 0
    with np.errstate(divide="ignore"):
        left = np.log(s) + log_integral(r + x, alpha, s + 1, beta, t_x, T)
    return np.asarray(stays, dtype=np.float64), left
