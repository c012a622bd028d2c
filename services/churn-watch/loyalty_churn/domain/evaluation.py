"""How well churn scores did, once the future is known: the measures a backtest prints.

Scores rank members from most to least likely to churn; labels say who did (1) and who
bought again (0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

Floats = npt.NDArray[np.float64]


class CalibrationBand(NamedTuple):
    mean_score: float
    churn_rate: float
    members: int


def _scored(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[Floats, Floats]:
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("need one score per label")
    if not (np.all(np.isfinite(s)) and np.all((y == 0) | (y == 1))):
        raise ValueError("scores must be finite and labels 0 or 1")
    return s, y


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """The chance that a churner is scored above a member who stayed, ties counting
    half; None unless both kinds are present."""
    s, y = _scored(scores, labels)
    churners = float(y.sum())
    stayers = len(y) - churners
    if churners == 0 or stayers == 0:
        return None
    # Average ranks give tied pairs half a win.
    above = float(rankdata(s)[y == 1].sum()) - churners * (churners + 1) / 2
    return above / (churners * stayers)


def _top(scores: Floats, share: float) -> npt.NDArray[np.intp]:
    """The highest-scored `share` of members (rounded, at least one); among equal
    scores the earlier member comes first."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    count = max(1, int(share * len(scores) + 0.5)) if len(scores) else 0
    return np.argsort(-scores, kind="stable")[:count]


def top_share(scores: npt.ArrayLike, labels: npt.ArrayLike, share: float) -> tuple[float, float]:
    """Precision and recall of calling the top `share` by score churners (recall is 0
    when nobody churned)."""
    s, y = _scored(scores, labels)
    top = _top(s, share)
    caught, churners = float(y[top].sum()), float(y.sum())
    return (caught / len(top) if len(top) else 0.0), (caught / churners if churners else 0.0)


def lost_revenue_caught(
    scores: npt.ArrayLike, labels: npt.ArrayLike, revenue: npt.ArrayLike, share: float
) -> float:
    """Of the churners' revenue, the fraction belonging to the top `share` by score."""
    s, y = _scored(scores, labels)
    money = np.asarray(revenue, dtype=np.float64)
    if money.shape != s.shape:
        raise ValueError("need one revenue per score")
    # Summed in one order, by score, so a larger share can never round to less (or the
    # whole to more than 1): Hypothesis found a dot product per share doing both.
    top = _top(s, 1.0)
    running = np.cumsum(money[top] * y[top])
    lost = float(running[-1]) if len(running) else 0.0
    if lost == 0:
        return 0.0
    return float(running[len(_top(s, share)) - 1]) / lost


def brier(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Mean squared gap between the scores, read as probabilities of churning, and what
    happened (0 for no members)."""
    s, y = _scored(scores, labels)
    return float(np.mean((s - y) ** 2)) if len(s) else 0.0


def calibration_table(
    scores: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 10
) -> list[CalibrationBand]:
    """Per band of equal width in [0, 1] holding members: their mean score and churn
    rate, which should match for a score that reads as a probability."""
    s, y = _scored(scores, labels)
    band = np.clip(np.floor(s * bins), 0, bins - 1).astype(np.intp)
    return [
        CalibrationBand(float(s[band == b].mean()), float(y[band == b].mean()), int(n))
        for b, n in enumerate(np.bincount(band, minlength=bins))
        if n
    ]
