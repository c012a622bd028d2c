"""The buy-till-you-die models: fitted on data simulated from them, they find the
parameters again, and their probabilities match what the simulation does."""

from __future__ import annotations

import numpy as np
import pytest

from loyalty_churn.domain.lifetimes import BgNbd, ParetoNbd

MEMBERS = 8_000
T = 52.0


def simulate_bgnbd(rng: np.random.Generator, r: float, alpha: float, a: float, b: float, T: float):
    """Purchases at rate lambda; after each, gone with chance p. Returns (x, t_x, T)."""
    lam = rng.gamma(r, 1 / alpha, MEMBERS)
    p = rng.beta(a, b, MEMBERS)
    x, t_x = np.zeros(MEMBERS), np.zeros(MEMBERS)
    for i in range(MEMBERS):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    return x, t_x, np.full(MEMBERS, T)


def test_bgnbd_finds_the_parameters_it_was_simulated_with() -> None:
    x, t_x, age = simulate_bgnbd(np.random.default_rng(1), 0.25, 4.0, 0.8, 2.5, T)
    fitted = BgNbd.fit(x, t_x, age)
    assert fitted.r == pytest.approx(0.25, rel=0.15)
    assert fitted.alpha == pytest.approx(4.0, rel=0.25)
    assert fitted.a == pytest.approx(0.8, rel=0.3)
    assert fitted.b == pytest.approx(2.5, rel=0.35)


def summaries_and_future(times: list[list[float]], T: float, horizon: float):
    """Each member's (x, t_x, T) as seen at T, and whether they bought in (T, T + h]."""
    x = np.array([sum(t <= T for t in ts) for ts in times], float)
    t_x = np.array([max([t for t in ts if t <= T], default=0.0) for ts in times])
    later = np.array([any(T < t <= T + horizon for t in ts) for ts in times])
    return x, t_x, np.full(len(times), T), later


def bgnbd_lives(rng: np.random.Generator, model: BgNbd, until: float) -> list[list[float]]:
    lam = rng.gamma(model.r, 1 / model.alpha, MEMBERS)
    p = rng.beta(model.a, model.b, MEMBERS)
    lives = []
    for i in range(MEMBERS):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > until:
                break
            times.append(t)
            if rng.random() < p[i]:
                break
        lives.append(times)
    return lives


def assert_matches_by_group(predicted: np.ndarray, x: np.ndarray, later: np.ndarray) -> None:
    for group in (x == 0, (x >= 1) & (x <= 3), x > 3):
        assert predicted[group].mean() == pytest.approx(1 - later[group].mean(), abs=0.03)


def test_bgnbd_no_purchase_probability_matches_the_simulation() -> None:
    model = BgNbd(0.4, 6.0, 0.7, 3.0)
    lives = bgnbd_lives(np.random.default_rng(2), model, T + 26)
    x, t_x, age, later = summaries_and_future(lives, T, 26.0)
    assert_matches_by_group(model.p_no_purchase(x, t_x, age, 26.0), x, later)


def test_pareto_nbd_likelihood_matches_the_integral_over_its_rates() -> None:
    """The closed form against a Monte Carlo average of each member's likelihood."""
    from loyalty_churn.domain.lifetimes import _pareto_log_likelihood

    rng = np.random.default_rng(3)
    r, alpha, s, beta = 0.5, 20.0, 1.5, 8.0
    lam = rng.gamma(r, 1 / alpha, 2_000_000)
    mu = rng.gamma(s, 1 / beta, 2_000_000)
    for x, t_x, age in [(0, 0, 39), (2, 20, 39), (5, 38, 39)]:
        both = lam + mu
        lik = lam**x * np.exp(-both * age) + lam**x * mu / both * (
            np.exp(-both * t_x) - np.exp(-both * age)
        )
        exact = _pareto_log_likelihood(
            r, alpha, s, beta, *(np.array([v], float) for v in (x, t_x, age))
        )
        assert exact[0] == pytest.approx(np.log(lik.mean()), abs=0.01)


def test_pareto_nbd_no_purchase_probability_matches_the_simulation() -> None:
    model = ParetoNbd(0.6, 8.0, 0.8, 30.0)
    rng = np.random.default_rng(4)
    lam = rng.gamma(model.r, 1 / model.alpha, MEMBERS)
    death = rng.exponential(1 / rng.gamma(model.s, 1 / model.beta, MEMBERS))
    lives = []
    for i in range(MEMBERS):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > min(death[i], T + 26):
                break
            times.append(t)
        lives.append(times)
    x, t_x, age, later = summaries_and_future(lives, T, 26.0)
    assert_matches_by_group(model.p_no_purchase(x, t_x, age, 26.0), x, later)


def test_fits_survive_degenerate_data() -> None:
    nobody = np.zeros(0)
    assert BgNbd.fit(nobody, nobody, nobody).r > 0
    once = np.zeros(50)
    fitted = BgNbd.fit(once, once, np.full(50, 10.0))
    p = fitted.p_no_purchase(once, once, np.full(50, 10.0), 30.0)
    assert np.all((p >= 0) & (p <= 1))
    assert ParetoNbd.fit(once, once, np.full(50, 10.0)).s > 0
