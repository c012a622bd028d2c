"""The risk model on synthetic members whose future is known: the score ranks who
stops buying and reads as a probability, also when the history is short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from loyalty_churn.domain.behaviour import Behaviour, MemberHistory, Refund, Visit
from loyalty_churn.domain.evaluation import roc_auc
from loyalty_churn.domain.risk import RiskModel, fit_risk_model, prior_model
from loyalty_cli.churn_logs import synthetic_churn_log
from loyalty_kernel.events.purchases import PURCHASE_COMPLETED
from loyalty_kernel.programme import ChurnSettings

START = datetime(2024, 1, 1, tzinfo=UTC)
RULES = ChurnSettings()


def histories(members: int, days: int, seed: int, until: datetime) -> dict[str, MemberHistory]:
    found: dict[str, MemberHistory] = {}
    for e in synthetic_churn_log(members, START, days, seed):
        if e.time > until:
            continue
        h = found.setdefault(e.subject, MemberHistory(e.subject))
        d = e.data
        if e.type == PURCHASE_COMPLETED:
            h.add_visit(Visit(d["purchase_id"], e.time, Decimal(d["amount"])))
        else:
            h.add_refund(Refund(d["refund_id"], d["purchase_id"], e.time, Decimal(d["amount"])))
    return found


def outcome(
    members: int, days: int, seed: int, cutoff: datetime
) -> tuple[list[Behaviour], np.ndarray, RiskModel]:
    """Fit as of `cutoff` on what was known then; the labels from what came after."""
    known = histories(members, days, seed, cutoff)
    later = histories(members, days, seed, cutoff + RULES.horizon)
    model = fit_risk_model(list(known.values()), cutoff, RULES, {})
    behaviours = [b for h in known.values() if (b := Behaviour.of(h, cutoff, RULES.period))]
    churned = np.array([
        0.0 if any(cutoff < v.at for v in later[b.member_id].visits) else 1.0 for b in behaviours
    ])  # fmt: skip
    return behaviours, churned, model


def test_the_fitted_score_ranks_churners_and_is_calibrated_on_the_future() -> None:
    cutoff = START + timedelta(days=540)
    behaviours, churned, model = outcome(3000, 760, 21, cutoff)
    assert model.calibration is not None
    assert model.training_horizon_days == 180
    scores = model.scores(behaviours, [0] * len(behaviours), RULES.period_days)
    assert roc_auc(scores, churned) > 0.85
    assert scores.mean() == pytest.approx(churned.mean(), abs=0.05)
    # calibrated by band too: in each decile of score, the churn rate is close
    order = np.argsort(scores)
    for part in np.array_split(order, 5):
        assert scores[part].mean() == pytest.approx(churned[part].mean(), abs=0.1)
    prior = prior_model(RULES).scores(behaviours, [0] * len(behaviours), RULES.period_days)
    assert roc_auc(scores, churned) > roc_auc(prior, churned)


def test_a_short_history_learns_a_shorter_horizon_and_stretches_it() -> None:
    cutoff = START + timedelta(days=250)  # less than two horizons of history
    behaviours, churned, model = outcome(3000, 500, 22, cutoff)
    assert model.training_horizon_days is not None
    assert 28 <= model.training_horizon_days < 180
    scores = model.scores(behaviours, [0] * len(behaviours), RULES.period_days)
    assert np.all((scores >= 0) & (scores <= 1))
    assert roc_auc(scores, churned) > 0.8
    assert scores.mean() == pytest.approx(churned.mean(), abs=0.1)


def test_a_model_survives_storage() -> None:
    cutoff = START + timedelta(days=540)
    behaviours, _, model = outcome(800, 700, 23, cutoff)
    again = RiskModel.from_dict(model.to_dict())
    ranks = [0] * len(behaviours)
    assert np.allclose(again.scores(behaviours, ranks, 90), model.scores(behaviours, ranks, 90))


def test_one_member_at_a_time_scores_as_the_whole_list_does() -> None:
    cutoff = START + timedelta(days=540)
    behaviours, _, model = outcome(800, 700, 24, cutoff)
    short = RiskModel.from_dict(model.to_dict() | {"training_horizon_days": 60})
    for m in (model, short, prior_model(RULES)):
        together = m.scores(behaviours, [1] * len(behaviours), 90)
        one_by_one = [m.score_one(b, 1, 90) for b in behaviours]
        assert np.allclose(together, one_by_one, atol=1e-9)
