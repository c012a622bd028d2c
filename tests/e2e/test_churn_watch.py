"""The churn watch on the real broker and database.

Constructed members (a lapser, a halver, a refund spree, a downgrade, a comeback)
get exactly the alerts the domain gives for the same facts, at their event times,
once each. A purchase log replayed into a fresh database, or shared by two replicas
in one consumer group, gives the same alerts and scores.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty_churn.bootstrap import ChurnWatchService
from loyalty_churn.domain.alerts import Move
from loyalty_churn.domain.behaviour import Refund, TierMove, Visit
from loyalty_churn.migrations import MIGRATIONS_DIR
from loyalty_churn.settings import ChurnWatchSettings
from loyalty_platform.kafka import ensure_topics
from tests.support.churn import (
    churn_settings,
    member_on_each_partition,
    snapshot,
    started,
    tier_changed,
    wait_applied,
    wait_outbox_empty,
)
from tests.support.churn_reference import watch_through
from tests.support.events import encode, iso, purchase, refund
from tests.support.kafka import payloads, publish, read_all
from tests.support.waiting import until_each_owns_partitions

START = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
END = START + timedelta(days=730)


def weekly(member: str, amount: str, weeks: range) -> list[Visit]:
    return [Visit(f"{member}-p{w}", START + w * WEEK, Decimal(amount)) for w in weeks]


def constructed() -> dict[str, list[Visit | Refund | TierMove]]:
    faller = weekly("faller", "25.00", range(60, 80))
    returner = weekly("returner", "60.00", range(30))
    spree = returner[-1].at + timedelta(days=1)
    returnee = weekly("returnee", "35.00", range(40))
    return {
        "lapser": [*weekly("lapser", "40.00", range(52))],
        "halver": [*weekly("halver", "50.00", range(26)), *weekly("halver", "15.00", range(26, 52))],
        "returner": [
            *returner,
            *(Refund(f"r{i}", returner[-1 - i].purchase_id, spree + timedelta(days=i),
                     Decimal("60.00")) for i in range(5)),
        ],
        "faller": [*faller, TierMove(1, faller[-1].at + timedelta(days=3), "ruby", "pearl", True)],
        "returnee": [
            *returnee,
            Visit("returnee-back", returnee[-1].at + timedelta(days=200), Decimal("35.00")),
        ],
    }  # fmt: skip


def as_message(member: str, fact: Visit | Refund) -> tuple[bytes, bytes]:
    if isinstance(fact, Visit):
        event = purchase(member, fact.purchase_id, fact.amount, fact.at)
    else:
        event = refund(member, fact.refund_id, fact.purchase_id, fact.amount, fact.at)
    return member.encode(), encode(event)


async def test_constructed_members_get_their_alerts_at_their_moments_once(churn_database, kafka):
    members = constructed()
    clocks = member_on_each_partition(kafka, "clock")
    timeline = sorted(
        (
            (f.at, m, f)
            for m, facts in members.items()
            for f in facts
            if not isinstance(f, TierMove)
        ),
        key=lambda x: x[0],
    )
    service = await started(churn_settings(churn_database, kafka))
    try:
        # Purchases first, then the tier service's downgrade, then every partition's
        # clock moves to END: each topic's messages are applied in their order.
        await publish(kafka, kafka.topics.purchases, [as_message(m, f) for _, m, f in timeline])
        await wait_applied(service, len(timeline))
        move = members["faller"][-1]
        assert isinstance(move, TierMove)
        tier_event = tier_changed("faller", 1, move.at, "ruby", "pearl")
        await publish(kafka, kafka.topics.tiers_events, [(b"faller", encode(tier_event))])
        await wait_applied(service, len(timeline) + 1)
        ends = [(c.encode(), encode(purchase(c, f"{c}-end", "5.00", END))) for c in clocks]
        await publish(kafka, kafka.topics.purchases, ends)
        await wait_applied(service, len(timeline) + 1 + len(clocks))
        await wait_outbox_empty(service)
        alerts, _ = await snapshot(service.handler.uow)
    finally:
        await service.stop()

    # the service stopped with its outbox empty: the topic holds all it will ever publish
    published = payloads(await read_all(kafka, kafka.topics.churn_alerts))
    assert len({e["id"] for e in published}) == len(published)  # none twice
    for member, facts in members.items():
        expected = watch_through(member, facts, END)
        mine = [e for e in published if e["subject"] == member]
        assert [_summary(e) for e in mine] == [
            (e.move.value, iso(e.at), e.severity, () if e.move is Move.RESOLVED else e.codes)
            for e in expected
        ], member
    lapser_last = members["lapser"][-1].at
    lapsed = next(e for e in published if e["subject"] == "lapser" and "lapsed" in _codes(e))
    assert lapsed["time"] == iso(lapser_last + timedelta(days=180))
    downgrade = next(e for e in published if e["subject"] == "faller")
    assert _codes(downgrade) == ("tier_downgrade",)
    resolved = [e for e in published if e["type"] == "loyalty.churn.alert_resolved.v1"]
    assert [e["subject"] for e in resolved] == ["returnee"]
    assert resolved[0]["time"] == iso(members["returnee"][-1].at)
    for event in published:
        if event["type"] == "loyalty.churn.alert.v1":
            data = event["data"]
            assert set(data) >= {"member_id", "severity", "risk_score", "signals", "tier",
                                 "value_at_risk", "last_purchase_at"}  # fmt: skip
            assert 0 <= data["risk_score"] <= 1
            assert Decimal(data["value_at_risk"]) >= 0
    # at most one open alert per member; the database holds what was published
    open_alerts = [a for a in alerts if a[-1] is None]
    assert len({a[0] for a in open_alerts}) == len(open_alerts)
    latest: dict[tuple[str, str], int] = {}
    for e in published:  # the resolution is an alert's last revision
        key = (e["subject"], e["data"]["opened_at"])
        latest[key] = max(latest.get(key, 0), e["data"]["revision"])
    assert {(a[0], iso(a[1]), a[2]) for a in alerts} == {(m, o, r) for (m, o), r in latest.items()}


def _codes(event: dict[str, Any]) -> tuple[str, ...]:
    return tuple(s["code"] for s in event["data"].get("signals", []))


def _summary(event: dict[str, Any]) -> tuple[str, str, str, tuple[str, ...]]:
    data = event["data"]
    if event["type"] == "loyalty.churn.alert_resolved.v1":
        return ("resolved", event["time"], data["severity"], ())
    return (data["status"], event["time"], data["severity"], _codes(event))


def shopping_log(rng: random.Random, members: int) -> list[tuple[bytes, bytes]]:
    """Members with their own rhythm over two years; some stop, some slow down."""
    timeline = []
    for n in range(members):
        member = f"shopper-{n:04d}"
        at = START + timedelta(hours=rng.randrange(0, 24 * 60))
        gap = rng.choice([3, 7, 14, 30])
        stops = START + timedelta(days=rng.randrange(100, 900))
        basket = Decimal(rng.randrange(1000, 9000)) / 100
        k = 0
        while at < END and at < stops:
            timeline.append((at, member, purchase(member, f"{member}-{k}", basket, at)))
            if rng.random() < 0.05:
                refund_at = at + timedelta(hours=30)
                timeline.append((refund_at, member, refund(member, f"{member}-r{k}", f"{member}-{k}", basket / 2, refund_at)))  # fmt: skip
            k += 1
            gap = gap * rng.choice([1, 1, 1, 1.3])
            at += timedelta(days=gap * rng.uniform(0.6, 1.4))
    timeline.sort(key=lambda x: x[0])
    return [(m.encode(), encode(e)) for _, m, e in timeline]


async def run(
    settings: ChurnWatchSettings,
    messages: list[tuple[bytes, bytes]] | None,
    total: int,
    *,
    replicas: int = 1,
) -> tuple[list[Any], list[Any]]:
    # Started together, the replicas join the group in one round.
    services: list[ChurnWatchService] = list(
        await asyncio.gather(*(started(settings) for _ in range(replicas)))
    )
    try:
        if messages is not None:
            await until_each_owns_partitions(services)
            await publish(settings.kafka, settings.kafka.topics.purchases, messages)
        await wait_applied(services[0], total, timeout=240)
        await wait_outbox_empty(services[0])
        return await snapshot(services[0].handler.uow)
    finally:
        for service in services:
            await service.stop()


async def test_replays_and_replicas_give_the_same_alerts_and_scores(
    churn_database, new_database, kafka
):
    messages = shopping_log(random.Random(5), members=150)
    await publish(kafka, kafka.topics.purchases, messages)
    first = await run(churn_settings(churn_database, kafka, batch_size=300), None, len(messages))
    alerts, _ = first
    assert len(alerts) > 20  # the log has members slipping away

    published = payloads(await read_all(kafka, kafka.topics.churn_alerts))
    assert len({e["id"] for e in published}) == len(published)
    shown = {s["code"] for e in published for s in e["data"].get("signals", [])}
    assert shown >= {"overdue", "lapsed"}
    moves = {e["data"].get("status", "resolved") for e in published}
    assert moves == {"opened", "escalated", "de_escalated", "resolved"}

    again = churn_settings(
        await new_database(MIGRATIONS_DIR), kafka, consumer_group="churn-again", batch_size=41
    )
    pair_kafka = kafka.model_copy(update={"topic_prefix": kafka.topic_prefix + "pair."})
    await ensure_topics(pair_kafka, pair_kafka.topics.all())
    pair = churn_settings(await new_database(MIGRATIONS_DIR), pair_kafka, batch_size=64)
    replayed, two_replicas = await asyncio.gather(
        run(again, None, len(messages)), run(pair, messages, len(messages), replicas=2)
    )
    assert replayed == first
    assert two_replicas == first
    pair_published = payloads(await read_all(pair_kafka, pair_kafka.topics.churn_alerts))
    assert sorted(e["id"] for e in pair_published) == sorted(e["id"] for e in published)
