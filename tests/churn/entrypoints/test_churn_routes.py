"""The churn-watch churn routes on the real database: churn rates, and fitting the model."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.churn_api import DAY, LAPSER_LAST, START, WEEK, feed, shoppers
from tests.support.events import iso, purchase


async def test_churn_summary_counts_lost_customers_and_their_spend(app):
    client, service = app
    await shoppers(service)
    await feed(service, purchase("regular", "regular-late", "20.00", START + 800 * DAY))
    body = (await client.get("/v1/churn/summary", params={"period": "2026"})).json()
    # customers at 2026-01-01: both bought in the 180 days before. The lapser (last
    # purchase 2025-12-22) is lost on 2026-06-20; the regular buys all year.
    assert body["start"] == "2026-01-01T00:00:00Z"
    assert body["end"] == "2027-01-01T00:00:00Z"
    assert body["complete"] is True
    assert (body["customers"], body["lost"]) == (2, 1)
    assert body["absolute_churn_rate"] == 0.5
    # each weighed by their spend in the 180 days before the period
    year = datetime(2026, 1, 1, tzinfo=UTC)
    weeks = sum(1 for w in range(52) if year - 180 * DAY < START + w * WEEK <= year)
    assert body["relative_churn_rate"] == round(40 * weeks / (40 * weeks + 20 * weeks), 4)
    assert body["by_tier"] == [{"tier": "opal", "customers": 2, "lost": 1, "retention": 0.5}]
    quarter = (await client.get("/v1/churn/summary", params={"period": "2026-Q1"})).json()
    assert (quarter["customers"], quarter["lost"]) == (2, 0)


async def test_fitting_the_model_puts_it_in_use(app):
    client, service = app
    await shoppers(service)
    before = (await client.get("/v1/churn/model")).json()
    assert before["version"] is None
    assert before["calibrated"] is False
    fitted = await client.post("/v1/churn/model", params={"as_of": iso(LAPSER_LAST + 100 * DAY)})
    assert fitted.status_code == 201
    body = fitted.json()
    assert body["version"] == 1
    assert body["fitted_as_of"] == iso(LAPSER_LAST + 100 * DAY)
    assert body["training"]["members"] == 2
    assert body["calibrated"] is False  # two members are too few to calibrate on
    assert (await client.get("/v1/churn/model")).json()["version"] == 1
    page = (await client.get("/v1/risk", params={"as_of": iso(LAPSER_LAST)})).json()
    assert page["model_version"] == 1
