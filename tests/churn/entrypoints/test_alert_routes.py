"""The churn-watch alert routes on the real database: alerts as time passes, and resolved."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.churn import tier_changed, wait_outbox_empty
from tests.support.churn_api import DAY, LAPSER_LAST, feed, weekly
from tests.support.events import iso, purchase
from tests.support.kafka import payloads, read_topic


async def test_alerts_fire_as_time_passes_and_filter_and_sort_by_value(app):
    client, service = app
    # a lapser, a small spender who lapses the same way (less value at risk), a regular
    first_year = weekly("lapser", "40.00", range(52)) + weekly("small", "5.00", range(40, 52))
    first_year += weekly("regular", "20.00", range(52))
    await feed(service, *sorted(first_year, key=lambda e: e["time"]))
    await feed(
        service,
        tier_changed("lapser", 1, LAPSER_LAST + 3 * DAY, "ruby", "pearl"),
        topic=service.settings.kafka.topics.tiers_events,
    )
    # the downgrade is assessed once the partition's clock passes it
    assert (await client.get("/v1/alerts")).json()["alerts"] == []
    # the regular keeps the partition's clock moving: time passes for everyone
    await feed(service, *weekly("regular", "20.00", range(52, 104)))
    alerts = (await client.get("/v1/alerts")).json()["alerts"]
    assert [a["member_id"] for a in alerts] == ["lapser", "small"]
    assert [a["status"] for a in alerts] == ["open", "open"]
    values = [float(a["value_at_risk"]) for a in alerts]
    assert values == sorted(values, reverse=True)
    lapser = alerts[0]
    # what stands now: the downgrade aged out after 90 days, lapsed and overdue stand
    assert {s["code"] for s in lapser["signals"]} == {"lapsed", "overdue"}
    assert lapser["tier"] == "pearl"
    assert lapser["severity"] == "high"
    assert lapser["risk_score"] >= 0.85 - 0.05  # the high band, kept down to the hysteresis
    assert lapser["last_purchase_at"] == iso(LAPSER_LAST)
    assert lapser["opened_at"] == iso(LAPSER_LAST + 3 * DAY)  # the downgrade came first
    # refreshed at every rescore since its last revision: lapsed counts the days to then
    assert lapser["updated_at"] > lapser["revised_at"]
    lapsed = next(s for s in lapser["signals"] if s["code"] == "lapsed")
    assessed = datetime.fromisoformat(lapser["updated_at"].replace("Z", "+00:00"))
    assert lapsed["observed"] == pytest.approx((assessed - LAPSER_LAST) / DAY, abs=0.001)

    # its history: opened on the downgrade, which cleared in a later revision
    detail = (await client.get(f"/v1/alerts/{lapser['alert_id']}")).json()
    history = detail["history"]
    assert [h["revision"] for h in history] == list(range(1, detail["revision"] + 1))
    assert history[0]["move"] == "opened"
    assert history[0]["changes"]["signals_added"] == ["tier_downgrade"]
    assert history[0]["changes"]["cause"] == "tier_change"
    cleared = [h for h in history if "tier_downgrade" in h["changes"]["signals_removed"]]
    assert [h["at"] for h in cleared] == [iso(LAPSER_LAST + 93 * DAY)]
    assert {h["move"] for h in history[1:]} <= {"escalated", "de_escalated"}
    assert history[-1]["severity"] == "high"
    assert all(h["changes"]["reason"] for h in history)
    assert detail["revised_at"] == history[-1]["at"]
    assert (await client.get("/v1/alerts/999999")).status_code == 404
    assert (await client.get("/v1/alerts/nope")).status_code == 422

    # filters read the current values
    high = (await client.get("/v1/alerts", params={"severity": "high"})).json()["alerts"]
    assert all(a["severity"] == "high" and a["risk_score"] >= 0.80 for a in high)
    assert "lapser" in {a["member_id"] for a in high}
    low = (await client.get("/v1/alerts", params={"severity": "low"})).json()["alerts"]
    assert all(a["risk_score"] < 0.70 for a in low)
    by_signal = (await client.get("/v1/alerts", params={"signal": "tier_downgrade"})).json()
    assert by_signal["alerts"] == []  # no alert shows it any more
    by_signal = (await client.get("/v1/alerts", params={"signal": "lapsed"})).json()
    assert {a["member_id"] for a in by_signal["alerts"]} == {"lapser", "small"}
    by_tier = (await client.get("/v1/alerts", params={"tier": "pearl"})).json()["alerts"]
    assert [a["member_id"] for a in by_tier] == ["lapser"]
    assert (await client.get("/v1/alerts", params={"signal": "bogus"})).status_code == 422

    # the lapser comes back: resolved, and the event is in the outbox
    await feed(service, purchase("lapser", "lapser-back", "40.00", LAPSER_LAST + 370 * DAY))
    still_open = (await client.get("/v1/alerts")).json()["alerts"]
    assert [a["member_id"] for a in still_open] == ["small"]
    resolved = (await client.get("/v1/alerts", params={"status": "resolved"})).json()["alerts"]
    assert [(a["member_id"], a["resolved_at"]) for a in resolved] == [
        ("lapser", iso(LAPSER_LAST + 370 * DAY))
    ]
    await wait_outbox_empty(service)
    published = payloads(
        await read_topic(
            service.settings.kafka,
            service.settings.kafka.topics.churn_alerts,
            expect=1000,
            timeout=3,
        )
    )
    types = [(e["subject"], e["type"]) for e in published]
    assert types.count(("lapser", "loyalty.churn.alert_resolved.v1")) == 1
    # one event per revision: the opening, each change, the resolution
    assert types.count(("lapser", "loyalty.churn.alert.v1")) == resolved[0]["revision"] - 1
    assert resolved[0]["revision"] >= 3  # opened on the downgrade, moved as time passed
    end = next(e for e in published if e["type"] == "loyalty.churn.alert_resolved.v1")
    assert end["data"]["changes"]["cause"] == "purchase"
    assert end["data"]["revision"] == resolved[0]["revision"]
