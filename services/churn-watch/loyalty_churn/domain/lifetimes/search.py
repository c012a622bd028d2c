"""The maximum-likelihood search both models share: over log-parameters, kept in bounds."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from loyalty_churn.domain.lifetimes.summaries import Floats

Loss = Callable[[Floats], Any]

# The search stays within e^12 of a start scaled to the data: wide enough for any real
# membership, narrow enough that every term of the likelihoods stays finite.
_LOG_REACH = 12.0
_LOG_BOUND = 50.0  # parameters stay within e^-50 .. e^50


def minimise(loss: Loss, start: Floats, gradient: bool) -> OptimizeResult:
    """Search the log-parameters near `start` for the least `loss`."""
    bounds = [(v - _LOG_REACH, v + _LOG_REACH) for v in start]
    return minimize(loss, start, jac=gradient or None, method="L-BFGS-B", bounds=bounds)


def refine(loss: Loss, warm: OptimizeResult) -> Floats:
    """A fit on a sample, finished on all the data: starting from the sample's curvature,
    a quasi-Newton search needs only a few steps."""
    curvature = np.asarray(warm.hess_inv.todense(), dtype=np.float64)
    curvature = (curvature + curvature.T) / 2
    if np.linalg.eigvalsh(curvature).min() <= 0:
        return finite_or(minimise(loss, warm.x, gradient=False).x, warm.x)
    found = minimize(loss, warm.x, method="BFGS", options={"hess_inv0": curvature})
    return finite_or(found.x, warm.x) if found.fun <= loss(warm.x) else warm.x


def logs_of(parameters: list[float]) -> Floats:
    """Where a search starts, within the same bounds as `parameters_of`."""
    bound = math.exp(_LOG_BOUND)
    return np.asarray(np.log(np.clip(parameters, 1 / bound, bound)), dtype=np.float64)


def parameters_of(logs: Floats) -> Floats:
    """The parameters a search on their logs stands at, kept off 0 and infinity: a start
    or a step far out (a purchase rate from half a second of watching) must not make a
    rate divide by zero."""
    return np.asarray(np.exp(np.clip(logs, -_LOG_BOUND, _LOG_BOUND)), dtype=np.float64)


def finite_or(logs: Floats, fallback: Floats) -> Floats:
    return logs if np.all(np.isfinite(logs)) else fallback
