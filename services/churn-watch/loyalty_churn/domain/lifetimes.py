"""Buy-till-you-die models of repeat buying, fitted on per-member summaries.

A member is summarised as `x` repeat purchases, `t_x` the time of the last of them and
`T` the time to the cutoff, both in days from the first purchase (what counts as a
purchase is the caller's choice). In both models a member buys at a rate of their own,
gamma-distributed across members, for as long as they stay. They differ in how members
leave: in BG/NBD (Fader, Hardie & Lee 2005) right after a purchase, with a chance of
their own; in Pareto/NBD (Schmittlein, Morrison & Colombo 1987) at an exponential
moment whose rate is gamma-distributed too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeResult, minimize
from scipy.special import betaincinv, betaln, digamma, expit, gammaln, hyp2f1, logsumexp

Floats = npt.NDArray[np.float64]
Loss = Callable[[Floats], Any]

# The search stays within e^12 of a start scaled to the data: wide enough for any real
# membership, narrow enough that every term of the likelihoods stays finite.
_LOG_REACH = 12.0
# Above this many distinct summaries, Pareto/NBD is first fitted on a sample: its
# likelihood costs two hypergeometric functions a row, so the fit on all of them
# should start close and take few steps.
_WARM_UP_ROWS = 10_000
# BG/NBD's expectation divides by a - 1 and by a + b - 1 (at x = 0); near either zero
# it is read from both sides, where it is smooth.
_NEAR_SINGULAR = 1e-4


class InvalidSummaries(ValueError):
    """The summaries are not counts and times a member could have."""


def _floats(*values: npt.ArrayLike) -> list[Floats]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values)]


_LOG_BOUND = 50.0  # parameters stay within e^-50 .. e^50


@dataclass(frozen=True)
class _Summaries:
    """Distinct (x, t_x, T) rows and how many members share each: members with the same
    history share a row, so the likelihood is evaluated once for all of them."""

    x: Floats
    t_x: Floats
    T: Floats
    members: Floats

    @classmethod
    def of(cls, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> _Summaries:
        rows = np.column_stack([np.ravel(v) for v in _floats(x, t_x, T)])
        if not np.all(np.isfinite(rows)):
            raise InvalidSummaries("summaries must be finite numbers")
        if np.any(rows < 0) or np.any(rows[:, 1] > rows[:, 2]):
            raise InvalidSummaries("need x >= 0 and 0 <= t_x <= T")
        distinct, counts = np.unique(rows, axis=0, return_counts=True)
        return cls(distinct[:, 0], distinct[:, 1], distinct[:, 2], counts.astype(np.float64))

    @property
    def learnable(self) -> bool:
        # Without a repeat purchase, or without any time watched, the rates are unknowable.
        return bool(np.any(self.x > 0) and np.any(self.T > 0))

    @property
    def purchase_rate(self) -> float:
        return float(self.members @ self.x) / float(self.members @ self.T)

    def sample(self, rows: int) -> _Summaries:
        pick = np.random.default_rng(0).choice(len(self.x), rows, replace=False)
        return _Summaries(self.x[pick], self.t_x[pick], self.T[pick], self.members[pick])


def _minimise(loss: Loss, start: Floats, gradient: bool) -> OptimizeResult:
    """Search the log-parameters near `start` for the least `loss`."""
    bounds = [(v - _LOG_REACH, v + _LOG_REACH) for v in start]
    return minimize(loss, start, jac=gradient or None, method="L-BFGS-B", bounds=bounds)


def _refine(loss: Loss, warm: OptimizeResult) -> Floats:
    """A fit on a sample, finished on all the data: starting from the sample's curvature,
    a quasi-Newton search needs only a few steps."""
    curvature = np.asarray(warm.hess_inv.todense(), dtype=np.float64)
    curvature = (curvature + curvature.T) / 2
    if np.linalg.eigvalsh(curvature).min() <= 0:
        return _finite_or(_minimise(loss, warm.x, gradient=False).x, warm.x)
    found = minimize(loss, warm.x, method="BFGS", options={"hess_inv0": curvature})
    return _finite_or(found.x, warm.x) if found.fun <= loss(warm.x) else warm.x


def _logs_of(parameters: list[float]) -> Floats:
    """Where a search starts, within the same bounds as `_parameters`."""
    bound = math.exp(_LOG_BOUND)
    return np.asarray(np.log(np.clip(parameters, 1 / bound, bound)), dtype=np.float64)


def _parameters(logs: Floats) -> Floats:
    """The parameters a search on their logs stands at, kept off 0 and infinity: a start
    or a step far out (a purchase rate from half a second of watching) must not make a
    rate divide by zero."""
    return np.asarray(np.exp(np.clip(logs, -_LOG_BOUND, _LOG_BOUND)), dtype=np.float64)


def _finite_or(logs: Floats, fallback: Floats) -> Floats:
    return logs if np.all(np.isfinite(logs)) else fallback


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
        data = _Summaries.of(x, t_x, T)
        if not data.learnable:
            return BGNBD_DEFAULT
        total = float(data.members.sum())

        def loss(logs: Floats) -> tuple[float, Floats]:
            params = _parameters(logs)
            r, alpha, a, b = (float(v) for v in params)
            ll, slopes = _bgnbd_log_likelihood(r, alpha, a, b, data.x, data.t_x, data.T)
            value = -float(data.members @ ll) / total
            if not math.isfinite(value):
                return 1e10, np.zeros(4)
            return value, -(slopes @ data.members) * params / total

        start = _logs_of([1.0, 1.0 / data.purchase_rate, 0.8, 3.0])
        logs = _finite_or(_minimise(loss, start, gradient=True).x, start)
        return cls(*(float(v) for v in _parameters(logs)))

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        """Probability the member has not left by T."""
        x, t_x, T = _floats(x, t_x, T)
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
        x, t_x, T = _floats(x, t_x, T)
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
        x, t_x, T = _floats(x, t_x, T)
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
        u = (1 + _NODES[None, :]) / 2
        p = betaincinv(self.a, (self.b + x)[:, None], u)
        spread = (horizon / (self.alpha + T))[:, None]
        shape = (self.r + x)[:, None]
        with np.errstate(all="ignore"):
            per_p = -np.expm1(-shape * np.log1p(p * spread)) / p
        per_p = np.where(p > 0, per_p, shape * spread)  # the limit as p -> 0
        return np.asarray(per_p @ _WEIGHTS / 2, dtype=np.float64)

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
        data = _Summaries.of(x, t_x, T)
        if not data.learnable:
            return PARETO_DEFAULT
        mean_age = float(data.members @ data.T) / float(data.members.sum())
        start = _logs_of([1.0, 1.0 / data.purchase_rate, 1.0, 2.0 * mean_age])
        if len(data.x) > _WARM_UP_ROWS:
            warm = _minimise(_pareto_loss(data.sample(_WARM_UP_ROWS)), start, gradient=False)
            logs = _refine(_pareto_loss(data), warm)
        else:
            logs = _finite_or(_minimise(_pareto_loss(data), start, gradient=False).x, start)
        return cls(*(float(v) for v in _parameters(logs)))

    def p_alive(self, x: npt.ArrayLike, t_x: npt.ArrayLike, T: npt.ArrayLike) -> Floats:
        """Probability the member has not left by T."""
        x, t_x, T = _floats(x, t_x, T)
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
        x, t_x, T = _floats(x, t_x, T)
        rate, death = self.alpha + T, self.beta + T
        with np.errstate(divide="ignore"):
            log_buys = (
                np.log(self.r + x)
                + (self.r + x) * np.log(rate)
                + self.s * np.log(death)
                + _log_integral(self.r + x + 1, rate, self.s, death, np.zeros_like(T), horizon)
            )
        buys = np.clip(np.exp(log_buys), 0.0, 1.0)
        return np.asarray(1.0 - self.p_alive(x, t_x, T) * buys, dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParetoNbd:
        return cls(float(data["r"]), float(data["alpha"]), float(data["s"]), float(data["beta"]))


BGNBD_DEFAULT = BgNbd(r=0.5, alpha=15.0, a=0.8, b=4.0)
PARETO_DEFAULT = ParetoNbd(r=0.5, alpha=15.0, s=0.5, beta=200.0)


def _pareto_loss(data: _Summaries) -> Loss:
    total = float(data.members.sum())

    def loss(logs: Floats) -> float:
        r, alpha, s, beta = (float(v) for v in _parameters(logs))
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
        left = np.log(s) + _log_integral(r + x, alpha, s + 1, beta, t_x, T)
    return np.asarray(stays, dtype=np.float64), left


def _log_integral(
    p: npt.ArrayLike,
    A: npt.ArrayLike,
    q: npt.ArrayLike,
    B: npt.ArrayLike,
    start: npt.ArrayLike,
    end: npt.ArrayLike,
) -> Floats:
    """log int_start^end (A + u)^-p (B + u)^-q du, as the difference of two tails."""
    from_start = _log_tail(p, A, q, B, start)
    from_end = _log_tail(p, A, q, B, end)
    # A difference of two roundings can come out at or below zero: it is then empty.
    gap = np.minimum(from_end - from_start, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(from_start + np.log(-np.expm1(gap)), dtype=np.float64)


def _log_tail(
    p: npt.ArrayLike, A: npt.ArrayLike, q: npt.ArrayLike, B: npt.ArrayLike, t: npt.ArrayLike
) -> Floats:
    """log int_t^inf (A + u)^-p (B + u)^-q du, for p + q > 1.

    Substituting v = (big + t) / (big + u), with big the larger of A and B, gives
    (big + t)^-m 2F1(e, m; m + 1; z) / m, where m = p + q - 1, e is the other base's
    power and z = (big - small) / (big + t) lies in [0, 1) (Fader & Hardie's 2005 note
    on the Pareto/NBD splits on alpha >= beta the same way)."""
    p, A, q, B, t = _floats(p, A, q, B, t)
    swap = A < B
    big, small = np.where(swap, B, A), np.where(swap, A, B)
    power = np.where(swap, p, q)
    m = p + q - 1
    z = (big - small) / (big + t)
    rest = (small + t) / (big + t)  # 1 - z, without losing its digits
    log_f = _log_hyp2f1(power, m, z, rest).reshape(z.shape)
    return np.asarray(-m * np.log(big + t) - np.log(m) + log_f, dtype=np.float64)


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


def _log_hyp2f1(e: Floats, m: Floats, z: Floats, rest: Floats) -> Floats:
    """log 2F1(e, m; m + 1; z) for z in [0, 1), where rest = 1 - z (arrays of one shape)."""
    e, m, z, rest = (np.ravel(v) for v in (e, m, z, rest))
    with np.errstate(all="ignore"):
        direct = np.asarray(np.log(hyp2f1(e, m, m + 1, z)), dtype=np.float64)
    lost = ~np.isfinite(direct)
    if np.any(lost):
        direct[lost] = _log_hyp2f1_by_quadrature(e[lost], m[lost], z[lost], rest[lost])
    return direct


def _log_hyp2f1_by_quadrature(e: Floats, m: Floats, z: Floats, rest: Floats) -> Floats:
    """The same, when it is beyond the range of doubles (a long history, far-apart
    bases): 2F1 = rest^-e m int_0^1 (1 - w)^(m - 1) (1 + k w)^-e dw with k = z / rest.

    Only then is e large (the value is at most rest^-e), so the integrand falls steeply
    once w passes 1 / (m + e k): Gauss-Legendre nodes spread in log w cover the climb
    from 40 e-folds below that point, and more densely the fall just after it."""
    k = z / rest
    peak = -np.log(m + e * k + 1.0)
    top = np.minimum(peak + 8.0, 0.0)
    panels = [(peak - 40.0, peak - 4.0), (np.minimum(peak - 4.0, top), top)]
    y = np.hstack([lo[:, None] + (hi - lo)[:, None] * (1 + _NODES) / 2 for lo, hi in panels])
    weights = np.hstack([(hi - lo)[:, None] * _WEIGHTS / 2 for lo, hi in panels])
    w = np.exp(y)
    log_integrand = (
        np.log(m)[:, None]
        + y
        + (m - 1)[:, None] * np.log1p(-w)
        - e[:, None] * np.log1p(k[:, None] * w)
    )
    log_k = logsumexp(log_integrand, b=weights, axis=1)
    return np.asarray(-e * np.log(rest) + log_k, dtype=np.float64)
