"""How well scores rank who churned: the measures a backtest prints."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

Floats = npt.NDArray[np.float64]


def _arrays(*values: Any) -> list[Floats]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def roc_auc(scores: Any, labels: Any) -> float | None:
    """The chance a churner is scored above a stayer (ties count half); None with
    only one kind of member."""
    s, y = _arrays(scores, labels)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(s)  # average ranks: ties get half credit
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _top(scores: Floats, share: float) -> npt.NDArray[np.intp]:
    """The indices of the highest `share` of scores; ties keep the input order."""
    count = max(1, round(len(scores) * share)) if len(scores) else 0
    order = np.argsort(-scores, kind="stable")
    return order[:count]


def top_share(scores: Any, labels: Any, share: float) -> tuple[float, float]:
    """Precision and recall of calling the top `share` by score churners."""
    s, y = _arrays(scores, labels)
    top = _top(s, share)
    if len(top) == 0:
        return 0.0, 0.0
    caught = float(y[top].sum())
    total = float(y.sum())
    return caught / len(top), (caught / total if total else 0.0)


def lost_revenue_caught(scores: Any, labels: Any, revenue: Any, share: float) -> float:
    """Of the churners' revenue, the part belonging to the top `share` by score."""
    s, y, r = _arrays(scores, labels, revenue)
    lost = float((r * y).sum())
    if lost == 0:
        return 0.0
    top = _top(s, share)
    return float((r[top] * y[top]).sum()) / lost


def brier(scores: Any, labels: Any) -> float:
    """Mean squared error of the scores read as probabilities of churning."""
    s, y = _arrays(scores, labels)
    return float(np.mean((s - y) ** 2)) if len(s) else 0.0


def calibration_table(scores: Any, labels: Any, bins: int = 10) -> list[tuple[float, float, int]]:
    """Per band of score: mean score, observed churn rate, members."""
    s, y = _arrays(scores, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    band = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    return [
        (float(s[band == b].mean()), float(y[band == b].mean()), int((band == b).sum()))
        for b in range(bins)
        if (band == b).any()
    ]
