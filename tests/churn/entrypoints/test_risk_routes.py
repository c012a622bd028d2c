"""The churn-watch risk routes on the real database: one member's risk, everyone ranked."""

from __future__ import annotations

import csv
import io

from tests.support.churn_api import DAY, LAPSER_LAST, START, WEEK, feed, shoppers
from tests.support.events import iso, purchase


async def test_a_members_risk_as_of_a_date_shows_signals_and_features(app):
    client, service = app
    await shoppers(service)
    as_of = LAPSER_LAST + 200 * DAY
    body = (await client.get("/v1/members/lapser/risk", params={"as_of": iso(as_of)})).json()
    assert body["as_of"] == iso(as_of)
    assert body["last_purchase_at"] == iso(LAPSER_LAST)
    codes = [s["code"] for s in body["signals"]]
    assert codes[:2] == ["lapsed", "overdue"]
    lapsed = body["signals"][0]
    assert lapsed == {"code": "lapsed", "observed": 200.0, "threshold": 180.0}
    assert body["severity"] == "high"
    assert 0.85 <= body["risk_score"] <= 1
    assert body["features"]["purchases"] == 52
    assert body["features"]["median_gap_days"] == 7
    assert body["features"]["spend_total"] == "2080.00"

    early = (
        await client.get("/v1/members/lapser/risk", params={"as_of": iso(START + 10 * WEEK)})
    ).json()
    assert early["signals"] == []
    assert early["severity"] is None
    assert early["risk_score"] < body["risk_score"]


async def test_everyone_ranked_riskiest_first_in_pages_and_as_csv(app):
    client, service = app
    await shoppers(service)
    others = [purchase(f"once-{n}", f"once-{n}", "12.00", START + n * DAY) for n in range(5)]
    await feed(service, *others)
    as_of = iso(LAPSER_LAST + 100 * DAY)
    whole = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 100})).json()
    assert whole["total"] == 7
    ranked = [m["member_id"] for m in whole["members"]]
    scores = [m["risk_score"] for m in whole["members"]]
    assert scores == sorted(scores, reverse=True)
    assert ranked.index("lapser") < ranked.index("regular")
    assert ranked[-1] == "regular"
    page = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 3, "offset": 2})).json()
    assert [m["member_id"] for m in page["members"]] == ranked[2:5]
    text = (await client.get("/v1/risk", params={"as_of": as_of, "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["member_id"] for r in rows] == ranked
    assert [int(r["rank"]) for r in rows] == list(range(1, 8))


async def test_pages_of_one_ranking_come_from_one_scoring_until_new_facts_arrive(app):
    client, service = app
    await shoppers(service)
    as_of = iso(LAPSER_LAST + 100 * DAY)
    first = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 1})).json()
    assert first["members"][0]["member_id"] == "lapser"
    kept = next(iter(service.rankings._kept.values()))
    await client.get("/v1/risk", params={"as_of": as_of, "limit": 1, "offset": 1})
    assert next(iter(service.rankings._kept.values())) is kept  # scored once for both pages
    # the lapser bought again before that date: the next page request sees it
    await feed(service, purchase("lapser", "lapser-again", "40.00", LAPSER_LAST + 99 * DAY))
    again = (await client.get("/v1/risk", params={"as_of": as_of, "limit": 1})).json()
    assert again["members"][0]["member_id"] == "lapser"
    assert again["members"][0]["risk_score"] < first["members"][0]["risk_score"]
    assert again["members"][0]["last_purchase_at"] == iso(LAPSER_LAST + 99 * DAY)
