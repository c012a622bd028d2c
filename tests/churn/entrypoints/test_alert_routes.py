"""The churn-watch alert routes on the real database: alerts as time passes, and resolved."""

from __future__ import annotations

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
    assert {s["code"] for s in lapser["signals"]} >= {"lapsed", "overdue", "tier_downgrade"}
    assert lapser["tier"] == "pearl"
    assert lapser["severity"] == "high"
    assert lapser["opened_at"] == iso(LAPSER_LAST + 3 * DAY)  # the downgrade came first

    high = (await client.get("/v1/alerts", params={"severity": "high"})).json()["alerts"]
    assert {a["member_id"] for a in high} <= {"lapser", "small"}
    by_signal = (await client.get("/v1/alerts", params={"signal": "tier_downgrade"})).json()
    assert [a["member_id"] for a in by_signal["alerts"]] == ["lapser"]
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
    assert types.count(("lapser", "loyalty.churn.alert.v1")) == resolved[0]["revision"]
    assert resolved[0]["revision"] >= 2  # opened on the downgrade, escalated as time passed
