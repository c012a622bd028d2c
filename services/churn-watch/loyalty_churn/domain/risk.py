"""The risk score: the probability that a member makes no purchase within the churn
horizon, and the severity it puts them in.

Two layers (docs/churn-watch.md, "How the risk score is made"):
1. A BG/NBD buy-till-you-die model of the whole membership gives each member's
   probability of no purchase in the horizon from recency, frequency and age alone.
2. A logistic calibration combines that probability with the behaviour signals
   (gaps lengthening, spend and baskets falling, refunds, downgrades). It is learnt
   from the membership's own past: the features as of one horizon before the fit
   date, against who then bought again by the fit date. So the score is calibrated
   on the retailer's own customers, and reads as a probability.
Without enough history to learn from, the score is the BG/NBD probability alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from loyalty_churn.domain.behaviour import DAY, Behaviour, MemberHistory
from loyalty_churn.domain.calibration import Logistic
from loyalty_churn.domain.lifetimes.bgnbd import BgNbd
from loyalty_kernel.programme import ChurnSettings

Floats = npt.NDArray[np.float64]

# Until a model is fitted: a broad prior, roughly a monthly shopper who stays for years.
PRIOR = BgNbd(r=0.5, alpha=15.0, a=0.8, b=4.0)
MIN_TO_CALIBRATE = 200  # members with history before the training cutoff
MIN_TO_FIT_LIFETIMES = 30
MIN_TRAINING_DAYS = 28

FEATURES = (
    "lifetimes_logit",
    "log_recency",
    "log_repeat_days",
    "log_age",
    "recency_over_gap",
    "last_gap_trend",
    "spend_trend",
    "basket_trend",
    "refund_share",
    "log_basket",
    "downgraded",
    "tier_rank",
    "log_points_redeemed",
)


def _summaries(behaviours: Sequence[Behaviour]) -> tuple[Floats, Floats, Floats]:
    x = np.array([b.repeat_days for b in behaviours], dtype=np.float64)
    t_x = np.array([b.last_repeat_days for b in behaviours], dtype=np.float64)
    age = np.array([_age(b) for b in behaviours], dtype=np.float64)
    return x, t_x, age


def _age(b: Behaviour) -> float:
    return max(b.age_days, float(b.last_repeat_days))


def _logit(p: Floats) -> Floats:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(clipped / (1 - clipped)), dtype=np.float64)


def _log_ratio(a: float, b: float) -> float:
    return math.log((a + 1.0) / (b + 1.0))


def _row(b: Behaviour, lifetimes_logit: float, tier_rank: int, period_days: int) -> list[float]:
    gap = b.median_gap_days or (b.age_days / b.repeat_days if b.repeat_days else None)
    recency_over_gap = math.log1p(b.recency_days / gap) if gap else 0.0
    last_gap_trend = (
        _log_ratio(float(b.last_gap_days), b.median_gap_days)
        if b.last_gap_days is not None and b.median_gap_days
        else 0.0
    )
    basket_trend = (
        _log_ratio(float(b.basket_recent), float(b.basket_before))
        if b.basket_recent is not None and b.basket_before is not None
        else 0.0
    )
    downgraded = (
        1.0
        if b.last_downgrade_at is not None and (b.as_of - b.last_downgrade_at) / DAY < period_days
        else 0.0
    )
    return [
        lifetimes_logit,
        math.log1p(b.recency_days),
        math.log1p(b.repeat_days),
        math.log1p(b.age_days),
        recency_over_gap,
        last_gap_trend,
        _log_ratio(float(b.spend_recent), float(b.spend_before)),
        basket_trend,
        float(b.refund_share_recent),
        math.log1p(float(b.average_basket)),
        downgraded,
        float(tier_rank),
        math.log1p(b.points_redeemed),
    ]


@dataclass(frozen=True)
class RiskModel:
    horizon_days: int
    lifetimes: BgNbd
    calibration: Logistic | None = None
    fitted_as_of: datetime | None = None
    training: dict[str, Any] | None = None  # what it was learnt from, for ops to read
    # Shorter than the horizon when the history held less than two horizons: the
    # calibration then learnt "no purchase within this many days" (see `scores`).
    training_horizon_days: int | None = None

    def scores(
        self, behaviours: Sequence[Behaviour], tier_ranks: Sequence[int], period_days: int
    ) -> Floats:
        """Each member's probability of no purchase within the horizon."""
        if not behaviours:
            return np.zeros(0)
        x, t_x, age = _summaries(behaviours)
        p_none = self.lifetimes.p_no_purchase(x, t_x, age, float(self.horizon_days))
        if self.calibration is None:
            return np.clip(np.asarray(p_none, dtype=np.float64), 0.0, 1.0)
        learnt = self.training_horizon_days or self.horizon_days
        p_none_learnt = (
            p_none
            if learnt == self.horizon_days
            else self.lifetimes.p_no_purchase(x, t_x, age, float(learnt))
        )
        logits = _logit(np.asarray(p_none_learnt, dtype=np.float64))
        rows = [
            _row(b, float(lg), rank, period_days)
            for b, lg, rank in zip(behaviours, logits, tier_ranks, strict=True)
        ]
        quiet = np.asarray(self.calibration.predict(np.array(rows)), dtype=np.float64)
        if learnt == self.horizon_days:
            return quiet
        # Stretch the learnt chance of buying to the whole horizon as the lifetime
        # model says it grows with time.
        growth = (1 - np.asarray(p_none)) / np.maximum(1 - np.asarray(p_none_learnt), 1e-9)
        return np.asarray(1 - np.clip((1 - quiet) * growth, 0.0, 1.0), dtype=np.float64)

    def score_one(self, b: Behaviour, tier_rank: int, period_days: int) -> float:
        """`scores` for one member, in plain floats: the consumer assesses one member
        at a time, thousands of times a second."""
        x, t_x, age = float(b.repeat_days), float(b.last_repeat_days), _age(b)
        p_none = self.lifetimes.p_no_purchase_one(x, t_x, age, float(self.horizon_days))
        if self.calibration is None:
            return min(max(p_none, 0.0), 1.0)
        learnt = self.training_horizon_days or self.horizon_days
        p_learnt = (
            p_none
            if learnt == self.horizon_days
            else self.lifetimes.p_no_purchase_one(x, t_x, age, float(learnt))
        )
        clipped = min(max(p_learnt, 1e-6), 1 - 1e-6)
        row = _row(b, math.log(clipped / (1 - clipped)), tier_rank, period_days)
        quiet = self.calibration.predict_one(row)
        if learnt == self.horizon_days:
            return quiet
        growth = (1 - p_none) / max(1 - p_learnt, 1e-9)
        return 1 - min(max((1 - quiet) * growth, 0.0), 1.0)

    def purchase_rate(self, b: Behaviour) -> float:
        """Expected purchases per day while the member stays (the posterior mean)."""
        return (self.lifetimes.r + b.repeat_days) / (self.lifetimes.alpha + max(b.age_days, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon_days": self.horizon_days,
            "lifetimes": self.lifetimes.to_dict(),
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "fitted_as_of": self.fitted_as_of.isoformat() if self.fitted_as_of else None,
            "training": self.training,
            "training_horizon_days": self.training_horizon_days,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskModel:
        calibration = data.get("calibration")
        fitted = data.get("fitted_as_of")
        return cls(
            horizon_days=int(data["horizon_days"]),
            lifetimes=BgNbd.from_dict(data["lifetimes"]),
            calibration=Logistic.from_dict(calibration) if calibration else None,
            fitted_as_of=datetime.fromisoformat(fitted) if fitted else None,
            training=data.get("training"),
            training_horizon_days=data.get("training_horizon_days"),
        )


def prior_model(rules: ChurnSettings) -> RiskModel:
    return RiskModel(horizon_days=rules.horizon_days, lifetimes=PRIOR)


def fit_risk_model(
    histories: Sequence[MemberHistory],
    as_of: datetime,
    rules: ChurnSettings,
    tier_rank: dict[str, int],
) -> RiskModel:
    """Learn the model from the histories as they stood at `as_of` (nothing later)."""

    def rank(tier: str | None) -> int:
        return tier_rank.get(tier or "", 0)

    now = [b for h in histories if (b := Behaviour.of(h, as_of, rules.period, rank))]
    lifetimes = PRIOR
    if len(now) >= MIN_TO_FIT_LIFETIMES:
        lifetimes = BgNbd.fit(*_summaries(now))
    span_days = max(((as_of - b.first_at) / DAY for b in now), default=0.0)
    learnt = min(rules.horizon_days, int(span_days / 2))
    cutoff = as_of - timedelta(days=learnt)
    past: list[tuple[Behaviour, MemberHistory]] = [
        (b, h) for h in histories if (b := Behaviour.of(h, cutoff, rules.period, rank))
    ]
    labels = np.array(
        [0.0 if _bought_within(h, cutoff, as_of) else 1.0 for _, h in past], dtype=np.float64
    )
    training: dict[str, Any] = {
        "members": len(now),
        "training_cutoff": cutoff.isoformat(),
        "training_horizon_days": learnt,
        "training_members": len(past),
        "training_churn_rate": round(float(labels.mean()), 4) if len(past) else None,
    }
    one_kind = labels.min(initial=0) == labels.max(initial=0)
    if learnt < MIN_TRAINING_DAYS or len(past) < MIN_TO_CALIBRATE or one_kind:
        return RiskModel(rules.horizon_days, lifetimes, None, as_of, training)
    behaviours = [b for b, _ in past]
    past_lifetimes = BgNbd.fit(*_summaries(behaviours))
    x, t_x, age = _summaries(behaviours)
    logits = _logit(np.asarray(past_lifetimes.p_no_purchase(x, t_x, age, float(learnt))))
    rows = np.array(
        [
            _row(b, float(lg), tier_rank.get(b.tier or "", 0), rules.period_days)
            for b, lg in zip(behaviours, logits, strict=True)
        ]
    )
    calibration = Logistic.fit(rows, labels, FEATURES)
    return RiskModel(rules.horizon_days, lifetimes, calibration, as_of, training, learnt)


def _bought_within(history: MemberHistory, start: datetime, end: datetime) -> bool:
    return any(start < v.at <= end for v in history.visits)
