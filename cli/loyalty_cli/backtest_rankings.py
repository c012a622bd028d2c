"""The established models' rankings of the same members, and how any ranking is judged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from loyalty_churn.domain.evaluation import (
    CalibrationBand,
    brier,
    calibration_table,
    lost_revenue_caught,
    roc_auc,
    top_share,
)
from loyalty_churn.domain.lifetimes.bgnbd import BgNbd
from loyalty_churn.domain.lifetimes.pareto_nbd import ParetoNbd
from loyalty_cli.backtest_log import Customer

Floats = npt.NDArray[np.float64]
SHARES = (0.1, 0.2)


def summaries(customers: list[Customer], cutoff: datetime) -> tuple[Floats, Floats, Floats]:
    """BG/NBD's (x, t_x, T) in days, counting distinct purchase dates."""
    x, t_x, age = [], [], []
    for c in customers:
        first = min(c.days)
        dates = sorted({d.date() for d in c.days})
        x.append(len(dates) - 1)
        t_x.append((dates[-1] - dates[0]).days)
        age.append(max((cutoff - first).total_seconds() / 86400, t_x[-1]))
    return np.array(x, float), np.array(t_x, float), np.array(age, float)


@dataclass(frozen=True)
class Scores:
    name: str
    values: Floats
    probability: bool  # readable as P(no purchase in the horizon): Brier applies


def baselines(customers: list[Customer], cutoff: datetime, horizon_days: int) -> list[Scores]:
    x, t_x, age = summaries(customers, cutoff)
    recency = age - t_x
    out = [Scores("recency", recency, probability=False)]
    for name, model in (("BG/NBD", BgNbd), ("Pareto/NBD", ParetoNbd)):
        fitted = model.fit(x, t_x, age)
        p = np.asarray(fitted.p_no_purchase(x, t_x, age, float(horizon_days)), dtype=np.float64)
        out.append(Scores(name, p, probability=True))
    return out


@dataclass(frozen=True)
class Quality:
    name: str
    auc: float | None
    at_share: dict[float, tuple[float, float, float]]  # precision, recall, lost revenue caught
    brier: float | None
    # For probabilities: per band of score, the mean score against the churn rate.
    calibration: list[CalibrationBand] | None = None


def judge(scores: Scores, labels: Floats, revenue: Floats) -> Quality:
    at_share = {}
    for share in SHARES:
        precision, recall = top_share(scores.values, labels, share)
        caught = lost_revenue_caught(scores.values, labels, revenue, share)
        at_share[share] = (precision, recall, caught)
    return Quality(
        scores.name,
        roc_auc(scores.values, labels),
        at_share,
        brier(scores.values, labels) if scores.probability else None,
        calibration_table(scores.values, labels, bins=5) if scores.probability else None,
    )
