"""The buy-till-you-die models against the processes they describe: fitted on members
simulated from them they find the parameters again, and their probabilities and
expectations match what simulated members go on to do."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import gammaln

from loyalty_churn.domain.lifetimes.bgnbd import BGNBD_DEFAULT, BgNbd
from loyalty_churn.domain.lifetimes.pareto_nbd import (
    PARETO_DEFAULT,
    ParetoNbd,
    _pareto_log_likelihood,
)
from loyalty_churn.domain.lifetimes.summaries import InvalidSummaries

HORIZON = 90.0


def ages(rng: np.random.Generator, members: int) -> np.ndarray:
    """Members who joined at different times, watched for 100 days to two years."""
    return rng.uniform(100.0, 730.0, members)


def simulate_bgnbd(rng: np.random.Generator, model: BgNbd, T: np.ndarray, horizon: float = 0.0):
    """(x, t_x, T) at T, and the purchases each member makes in (T, T + horizon].

    A member leaves right after their N-th purchase, N geometric in p; their purchases
    form a Poisson process, so given k of them by T, the x-th is an order statistic."""
    n = len(T)
    rate = rng.gamma(model.r, 1 / model.alpha, n)
    leaves_after = rng.geometric(rng.beta(model.a, model.b, n))
    by_cutoff = rng.poisson(rate * T)
    x = np.minimum(by_cutoff, leaves_after)
    last = T * rng.beta(np.maximum(x, 1), np.maximum(by_cutoff - x + 1, 1))
    later = np.clip(np.minimum(rng.poisson(rate * horizon), leaves_after - by_cutoff), 0, None)
    return x.astype(float), np.where(x > 0, last, 0.0), T, later


def simulate_pareto(
    rng: np.random.Generator, model: ParetoNbd, T: np.ndarray, horizon: float = 0.0
):
    """(x, t_x, T) at T, and whether each member buys in (T, T + horizon]."""
    n = len(T)
    rate = rng.gamma(model.r, 1 / model.alpha, n)
    leaves_at = rng.exponential(1 / rng.gamma(model.s, 1 / model.beta, n))
    watched = np.minimum(leaves_at, T)
    x = rng.poisson(rate * watched)
    last = watched * rng.beta(np.maximum(x, 1), 1)  # the latest of x uniform moments
    still_there = np.clip(np.minimum(leaves_at, T + horizon) - T, 0, None)
    buys = rng.random(n) < -np.expm1(-rate * still_there)
    return x.astype(float), np.where(x > 0, last, 0.0), T, buys


def by_frequency(x: np.ndarray) -> list[np.ndarray]:
    return [x == 0, (x >= 1) & (x <= 3), (x > 3) & (x <= 10), x > 10]


def test_bgnbd_finds_the_parameters_it_was_simulated_with() -> None:
    truth = BgNbd(r=0.6, alpha=30.0, a=0.7, b=3.0)
    rng = np.random.default_rng(11)
    x, t_x, T, _ = simulate_bgnbd(rng, truth, ages(rng, 20_000))
    fitted = BgNbd.fit(x, t_x, T)
    # about four standard errors, measured over repeated simulations of this size
    assert fitted.r == pytest.approx(truth.r, rel=0.05)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.08)
    assert fitted.a == pytest.approx(truth.a, rel=0.16)
    assert fitted.b == pytest.approx(truth.b, rel=0.22)


def test_pareto_nbd_finds_the_parameters_it_was_simulated_with() -> None:
    truth = ParetoNbd(r=0.6, alpha=30.0, s=0.8, beta=300.0)
    rng = np.random.default_rng(12)
    x, t_x, T, _ = simulate_pareto(rng, truth, ages(rng, 20_000))
    fitted = ParetoNbd.fit(x, t_x, T)
    assert fitted.r == pytest.approx(truth.r, rel=0.06)
    assert fitted.alpha == pytest.approx(truth.alpha, rel=0.07)
    assert fitted.s == pytest.approx(truth.s, rel=0.3)
    assert fitted.beta == pytest.approx(truth.beta, rel=0.5)


def assert_matches(predicted: np.ndarray, observed: np.ndarray, groups: list[np.ndarray]):
    """On average over each group, within four standard errors of the simulation."""
    for group in groups:
        spread = observed[group].std() / math.sqrt(group.sum())
        assert predicted[group].mean() == pytest.approx(observed[group].mean(), abs=4 * spread)


def test_bgnbd_no_purchase_probability_and_expected_purchases_match_the_simulation() -> None:
    model = BgNbd(r=0.6, alpha=30.0, a=0.7, b=3.0)
    rng = np.random.default_rng(13)
    x, t_x, T, later = simulate_bgnbd(rng, model, ages(rng, 60_000), HORIZON)
    quiet = model.p_no_purchase(x, t_x, T, HORIZON)
    assert_matches(quiet, (later == 0).astype(float), by_frequency(x))
    assert_matches(model.expected_purchases(x, t_x, T, HORIZON), later, by_frequency(x))


def test_pareto_nbd_no_purchase_probability_matches_the_simulation() -> None:
    """Members alive at T may also leave during the horizon before buying again."""
    model = ParetoNbd(r=0.6, alpha=30.0, s=0.8, beta=300.0)
    rng = np.random.default_rng(14)
    x, t_x, T, buys = simulate_pareto(rng, model, ages(rng, 60_000), HORIZON)
    quiet = model.p_no_purchase(x, t_x, T, HORIZON)
    long_gone = (x > 3) & (T - t_x > 200)
    assert_matches(quiet, (~buys).astype(float), [*by_frequency(x), long_gone])


def test_p_alive_matches_the_simulation() -> None:
    model = ParetoNbd(r=0.6, alpha=30.0, s=0.8, beta=300.0)
    rng = np.random.default_rng(15)
    T = ages(rng, 60_000)
    rate = rng.gamma(model.r, 1 / model.alpha, len(T))
    leaves_at = rng.exponential(1 / rng.gamma(model.s, 1 / model.beta, len(T)))
    x = rng.poisson(rate * np.minimum(leaves_at, T)).astype(float)
    last = np.where(x > 0, np.minimum(leaves_at, T) * rng.beta(np.maximum(x, 1), 1), 0.0)
    assert_matches(model.p_alive(x, last, T), (leaves_at > T).astype(float), by_frequency(x))


def pareto_likelihood_by_quadrature(
    r: float, alpha: float, s: float, beta: float, x: float, t_x: float, T: float
) -> float:
    """log L straight from its definition: the gamma expectations in closed form, the
    moment of leaving integrated numerically (scaled to 1 at t_x, so tiny values keep
    their digits)."""
    common = gammaln(r + x) - gammaln(r) + r * math.log(alpha) + s * math.log(beta)
    at_last = -(r + x) * math.log(alpha + t_x) - (s + 1) * math.log(beta + t_x)
    stays = -(r + x) * math.log(alpha + T) - s * math.log(beta + T)

    def leaving(u: float) -> float:
        return ((alpha + t_x) / (alpha + u)) ** (r + x) * ((beta + t_x) / (beta + u)) ** (s + 1)

    area, _ = quad(leaving, t_x, T, epsabs=0.0, epsrel=1e-11, limit=200)
    return float(common + np.logaddexp(stays, math.log(s * area) + at_last))


@pytest.mark.parametrize(
    ("r", "alpha", "s", "beta", "x", "t_x", "T"),
    [
        (0.6, 30.0, 0.8, 300.0, 0, 0, 400),  # alpha < beta
        (0.6, 30.0, 0.8, 300.0, 4, 120, 400),
        (2.0, 500.0, 1.5, 20.0, 3, 50, 200),  # alpha > beta
        (0.5, 40.0, 0.7, 40.0, 2, 10, 30),  # alpha = beta
        (0.9, 0.5, 1.2, 5000.0, 400, 400, 420),  # beyond the range of doubles
        (0.9, 0.5, 1.2, 5000.0, 400, 100, 700),
    ],
)
def test_pareto_nbd_likelihood_matches_its_definition(r, alpha, s, beta, x, t_x, T) -> None:
    exact = pareto_likelihood_by_quadrature(r, alpha, s, beta, x, t_x, T)
    closed = _pareto_log_likelihood(r, alpha, s, beta, *(np.array([float(v)]) for v in (x, t_x, T)))
    assert closed[0] == pytest.approx(exact, rel=1e-8, abs=1e-8)


def test_fits_on_data_that_cannot_tell_give_the_defaults_and_never_nan() -> None:
    nobody = np.zeros(0)
    assert BgNbd.fit(nobody, nobody, nobody) == BGNBD_DEFAULT
    assert ParetoNbd.fit(nobody, nobody, nobody) == PARETO_DEFAULT
    once = np.zeros(50)
    assert BgNbd.fit(once, once, np.full(50, 10.0)) == BGNBD_DEFAULT
    assert ParetoNbd.fit(once, once, once) == PARETO_DEFAULT
    one_repeat = BgNbd.fit([1.0], [3.0], [5.0])
    few = ParetoNbd.fit([0.0, 1.0, 2.0], [0.0, 3.0, 9.0], [10.0, 10.0, 10.0])
    for model in (one_repeat, few):
        p = model.p_no_purchase([0.0, 1.0, 2.0], [0.0, 3.0, 9.0], [10.0, 10.0, 10.0], 30.0)
        assert np.all((p >= 0) & (p <= 1))
        assert all(math.isfinite(v) and v > 0 for v in model.to_dict().values())


summary = st.tuples(
    st.integers(0, 400), st.floats(0, 1), st.floats(0, 1), st.sampled_from([0.5, 30.0, 700.0])
).map(lambda v: (float(v[0]), (v[2] * v[3] if v[0] else 0.0) * v[1], v[2] * v[3]))


@settings(max_examples=25, deadline=None)
@given(st.lists(summary, min_size=1, max_size=40))
@example(rows=[(1.0, 0.0, 1.11253692926e-313)])  # a purchase rate from no time at all
def test_any_fit_gives_finite_parameters_and_probabilities(rows) -> None:
    """Odd data (many purchases in half a day, everyone alike) may fit odd parameters,
    but never ones that break the probabilities or the expectation."""
    x, t_x, T = (np.array(column) for column in zip(*rows, strict=True))
    for model in (BgNbd.fit(x, t_x, T), ParetoNbd.fit(x, t_x, T)):
        assert all(math.isfinite(v) and v > 0 for v in model.to_dict().values())
        for p in (model.p_alive(x, t_x, T), model.p_no_purchase(x, t_x, T, HORIZON)):
            assert np.all((p >= 0) & (p <= 1))
        if isinstance(model, BgNbd):
            assert np.all(np.isfinite(model.expected_purchases(x, t_x, T, HORIZON)))


def test_summaries_no_member_could_have_are_refused() -> None:
    with pytest.raises(InvalidSummaries):
        BgNbd.fit([1.0], [12.0], [10.0])
    with pytest.raises(InvalidSummaries):
        ParetoNbd.fit([float("nan")], [0.0], [10.0])


def test_models_survive_storage_and_one_member_scores_as_a_list_does() -> None:
    bgnbd = BgNbd(r=0.6, alpha=30.0, a=0.7, b=3.0)
    pareto = ParetoNbd(r=0.6, alpha=30.0, s=0.8, beta=300.0)
    assert BgNbd.from_dict(bgnbd.to_dict()) == bgnbd
    assert ParetoNbd.from_dict(pareto.to_dict()) == pareto
    x, t_x, T = np.array([0.0, 1.0, 7.0, 40.0]), np.array([0.0, 5.0, 300.0, 20.0]), 365.0
    together = bgnbd.p_no_purchase(x, t_x, T, HORIZON)
    one_by_one = [bgnbd.p_no_purchase_one(*row, T, HORIZON) for row in zip(x, t_x, strict=True)]
    assert np.allclose(together, one_by_one, rtol=0, atol=1e-12)


def test_the_expectation_without_2f1_agrees_with_the_closed_form() -> None:
    """Where extreme parameters defeat 2F1 the expectation is taken numerically over the
    dropout chance instead; on ordinary parameters both ways agree."""
    model = BgNbd(r=0.6, alpha=30.0, a=0.7, b=3.0)
    x, T = np.array([0.0, 1.0, 10.0, 300.0]), np.array([100.0, 100.0, 400.0, 700.0])
    z = HORIZON / (model.alpha + T + HORIZON)
    closed = model._if_alive(model.a, x, z)
    assert model._if_alive_by_quadrature(x, T, HORIZON) == pytest.approx(closed, rel=1e-3)
    extreme = BgNbd(r=8.7e3, alpha=1.3e-7, a=1.5e4, b=4.9e5)
    assert np.all(np.isfinite(extreme.expected_purchases(x, x, T, HORIZON)))


def test_expectations_are_smooth_where_the_formula_divides_by_zero() -> None:
    """BG/NBD's expectation divides by a - 1: at a = 1 it is the limit from both sides."""
    x, t_x, T = np.array([0.0, 3.0, 20.0]), np.array([0.0, 100.0, 350.0]), 365.0
    at_one = BgNbd(0.6, 30.0, 1.0, 3.0).expected_purchases(x, t_x, T, HORIZON)
    below = BgNbd(0.6, 30.0, 0.99, 3.0).expected_purchases(x, t_x, T, HORIZON)
    above = BgNbd(0.6, 30.0, 1.01, 3.0).expected_purchases(x, t_x, T, HORIZON)
    assert np.all(np.isfinite(at_one))
    assert np.allclose(at_one, (below + above) / 2, rtol=1e-3)
