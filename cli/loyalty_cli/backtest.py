"""`loyalty churn backtest`: how well the churn watch ranks who is slipping away.

A purchase log is cut at a date. Everything up to the cutoff is replayed through a
fresh, isolated churn watch (its own database and topics), which fits its model and
scores every member as of the cutoff. The rest of the log says who actually bought
again within the horizon. The same members are ranked by the established models
from the log alone: plain recency, BG/NBD and Pareto/NBD, fitted on the same data.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

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
from loyalty_churn.domain.lifetimes import BgNbd, ParetoNbd
from loyalty_kernel.events.purchases import PURCHASE_COMPLETED, PURCHASE_REFUNDED

Floats = npt.NDArray[np.float64]
SHARES = (0.1, 0.2)


@dataclass
class Customer:
    """One member's purchases in the log, split at the cutoff."""

    days: list[datetime] = field(default_factory=list)  # purchase times up to the cutoff
    revenue: Decimal = Decimal(0)  # net spend in the horizon before the cutoff
    bought_after: bool = False  # a purchase in (cutoff, cutoff + horizon]


@dataclass(frozen=True)
class SplitLog:
    before: list[bytes]  # the lines to replay: every event up to the cutoff
    customers: dict[str, Customer]
    last_event: datetime | None
    unreadable: int = 0  # lines with no readable time, member or amount: left out


def split_log(lines: Iterable[bytes], cutoff: datetime, horizon: timedelta) -> SplitLog:
    """Read the log once: lines to replay, and each member's facts for the labels and
    for the baselines."""
    before: list[bytes] = []
    customers: dict[str, Customer] = {}
    refunds: list[tuple[str, datetime, Decimal]] = []
    last: datetime | None = None
    unreadable = 0
    for line in lines:
        try:
            event = json.loads(line)
            at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            data = event.get("data") or {}
            member = data.get("member_id")
            if at.tzinfo is None or not isinstance(data, dict):
                raise ValueError("no time zone, or no data object")
            if event.get("type") in (PURCHASE_COMPLETED, PURCHASE_REFUNDED):
                Decimal(data["amount"])
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError):
            # The churn watch would dead-letter it too: it is no fact of either side.
            unreadable += 1
            continue
        last = max(last or at, at)
        if at <= cutoff:
            before.append(line)
        if member is None:
            continue
        if event.get("type") == PURCHASE_COMPLETED:
            customer = customers.setdefault(member, Customer())
            if at <= cutoff:
                customer.days.append(at)
                if at > cutoff - horizon:
                    customer.revenue += Decimal(data["amount"])
            elif at <= cutoff + horizon:
                customer.bought_after = True
        elif event.get("type") == PURCHASE_REFUNDED and cutoff - horizon < at <= cutoff:
            refunds.append((member, at, Decimal(data["amount"])))
    for member, _, amount in refunds:
        if member in customers:
            customers[member].revenue = max(customers[member].revenue - amount, Decimal(0))
    known = {m: c for m, c in customers.items() if c.days}
    return SplitLog(before, known, last, unreadable)


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


@dataclass(frozen=True)
class Backtest:
    members: int
    churned: int
    replayed: int
    unreadable: int
    last_event: datetime | None
    seconds: float
    results: list[Quality]
    model: dict[str, Any]
    per_member: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "churned": self.churned,
            "churn_rate": round(self.churned / self.members, 4) if self.members else None,
            "replayed_events": self.replayed,
            "unreadable_lines": self.unreadable,
            "replay_seconds": round(self.seconds, 1),
            "model": self.model,
            "results": [
                {
                    "model": q.name,
                    "roc_auc": q.auc,
                    "brier": q.brier,
                    "calibration": [band._asdict() for band in q.calibration or []],
                    **{
                        f"top_{int(s * 100)}pct": {
                            "precision": p,
                            "recall": r,
                            "lost_revenue_caught": c,
                        }
                        for s, (p, r, c) in q.at_share.items()
                    },
                }
                for q in self.results
            ],
        }


async def _replay_and_score(
    log: SplitLog,
    cutoff: datetime,
    horizon_days: int,
    database_url: str,
    bootstrap_servers: str,
    partitions: int,
) -> tuple[dict[str, float], dict[str, Any], float]:
    """Run a churn watch on the replayed log; its scores as of the cutoff."""
    from loyalty_churn.bootstrap import build
    from loyalty_churn.migrations import MIGRATIONS_DIR
    from loyalty_churn.service_layer.modelling import fit_and_store
    from loyalty_churn.service_layer.views import ranked_risk
    from loyalty_churn.settings import ChurnWatchSettings
    from loyalty_cli.replay import publish_events
    from loyalty_platform.kafka import ensure_topics
    from loyalty_platform.migrations import upgrade
    from loyalty_platform.settings import KafkaSettings, ProgrammeSettings

    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, database_url)
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap_servers,
        topic_partitions=partitions,
        topic_prefix=f"backtest-{uuid.uuid4().hex[:8]}.",
    )
    await ensure_topics(kafka, kafka.topics.all())
    base = ProgrammeSettings().load()
    programme = base.model_copy(
        update={"churn": base.churn.model_copy(update={"horizon_days": horizon_days})}
    )
    settings = ChurnWatchSettings(
        database_url=database_url,
        kafka=kafka,
        clock="event",
        consumer_group="backtest",
        batch_size=2000,
        programme=programme,
    )
    service = build(settings)
    started = time.monotonic()
    await service.start()
    try:
        sent = await publish_events(
            log.before, bootstrap_servers=bootstrap_servers, topic=kafka.topics.purchases, rate=None
        )
        await _until_applied(service, sent)
        elapsed = time.monotonic() - started
        version, model = await fit_and_store(service.uow, programme, cutoff)
        scorer = service.handler.scorer(model)
        ranked = await ranked_risk(service.uow, cutoff, scorer)
    finally:
        await service.stop()
    scores = {m.assessment.member_id: m.assessment.score for m in ranked}
    return scores, {"version": version, **model.to_dict()}, elapsed


async def _until_applied(service: Any, total: int, timeout: float = 3600) -> None:
    from sqlalchemy import func, select

    from loyalty_churn.adapters.orm import ConsumerProgressRow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            applied = await session.scalar(
                select(func.sum(ConsumerProgressRow.next_offset)).where(
                    ConsumerProgressRow.topic == service.settings.kafka.topics.purchases
                )
            )
        if applied == total:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the churn watch applied {applied} of {total} events")


def run_backtest(
    lines: Iterable[bytes],
    cutoff: datetime,
    horizon_days: int,
    *,
    database_server: str | None = None,
    bootstrap_servers: str | None = None,
    partitions: int = 4,
) -> Backtest:
    """The whole backtest; embedded database and broker unless servers are given."""
    from loyalty_cli.stack import EmbeddedBroker, EmbeddedDatabase, create_database

    horizon = timedelta(days=horizon_days)
    log = split_log(lines, cutoff, horizon)
    if not log.customers:
        raise ValueError("no purchase in the log before the cutoff")
    with ExitStack() as stack:
        if database_server is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="backtest-")))
            db = EmbeddedDatabase(tmp / "postgres")
            db.start()
            stack.callback(db.stop)
            database_server = db.url()
        if bootstrap_servers is None:
            broker = EmbeddedBroker()
            broker.start()
            stack.callback(broker.stop)
            bootstrap_servers = broker.bootstrap_servers
        name = f"backtest_{uuid.uuid4().hex[:8]}"
        database_url = asyncio.run(create_database(database_server, name))
        watched, model, seconds = asyncio.run(
            _replay_and_score(
                log, cutoff, horizon_days, database_url, bootstrap_servers, partitions
            )
        )
    members = sorted(log.customers)
    customers = [log.customers[m] for m in members]
    labels = np.array([0.0 if c.bought_after else 1.0 for c in customers])
    revenue = np.array([float(c.revenue) for c in customers])
    ours = Scores("churn watch", np.array([watched.get(m, 0.0) for m in members]), True)
    everyone = [ours, *baselines(customers, cutoff, horizon_days)]
    per_member = [
        {
            "member_id": m,
            "churned": int(labels[i]),
            "revenue": revenue[i],
            **{s.name: float(s.values[i]) for s in everyone},
        }
        for i, m in enumerate(members)
    ]
    return Backtest(
        members=len(members),
        churned=int(labels.sum()),
        replayed=len(log.before),
        unreadable=log.unreadable,
        last_event=log.last_event,
        seconds=seconds,
        results=[judge(s, labels, revenue) for s in everyone],
        model=model,
        per_member=per_member,
    )


def rows(backtest: Backtest) -> Iterator[list[str]]:
    """The table's rows, for the terminal."""
    for q in backtest.results:
        cells = [q.name, _num(q.auc)]
        for share in SHARES:
            precision, recall, caught = q.at_share[share]
            cells += [_num(precision), _num(recall), _num(caught)]
        cells.append(_num(q.brier))
        yield cells


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
