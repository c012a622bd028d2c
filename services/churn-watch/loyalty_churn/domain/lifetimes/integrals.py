"""Logs of integrals of two power laws, by Gauss's hypergeometric function or by quadrature."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import hyp2f1, logsumexp

from loyalty_churn.domain.lifetimes.summaries import Floats, as_floats

# Gauss-Legendre on [-1, 1], for this module's quadrature and BG/NBD's.
NODES, WEIGHTS = np.polynomial.legendre.leggauss(48)


def log_integral(
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
    p, A, q, B, t = as_floats(p, A, q, B, t)
    swap = A < B
    big, small = np.where(swap, B, A), np.where(swap, A, B)
    power = np.where(swap, p, q)
    m = p + q - 1
    z = (big - small) / (big + t)
    rest = (small + t) / (big + t)  # 1 - z, without losing its digits
    log_f = _log_hyp2f1(power, m, z, rest).reshape(z.shape)
    return np.asarray(-m * np.log(big + t) - np.log(m) + log_f, dtype=np.float64)


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
    y = np.hstack([lo[:, None] + (hi - lo)[:, None] * (1 + NODES) / 2 for lo, hi in panels])
    weights = np.hstack([(hi - lo)[:, None] * WEIGHTS / 2 for lo, hi in panels])
    w = np.exp(y)
    log_integrand = (
        np.log(m)[:, None]
        + y
        + (m - 1)[:, None] * np.log1p(-w)
        - e[:, None] * np.log1p(k[:, None] * w)
    )
    log_k = logsumexp(log_integrand, b=weights, axis=1)
    return np.asarray(-e * np.log(rest) + log_k, dtype=np.float64)
