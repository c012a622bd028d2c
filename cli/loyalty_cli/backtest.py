"""`loyalty churn backtest`: how well the churn watch ranks who is slipping away.

A purchase log is cut at a date. Everything up to the cutoff is replayed through a
fresh, isolated churn watch (its own database and topics), which fits its model and
scores every member as of the cutoff. The rest of the log says who actually bought
again within the horizon. The same members are ranked by the established models
from the log alone: plain recency, BG/NBD and Pareto/NBD, fitted on the same data.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from loyalty_cli.backtest_log import split_log
from loyalty_cli.backtest_rankings import SHARES, Quality, Scores, baselines, judge
from loyalty_cli.backtest_replay import replay_and_score


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
            replay_and_score(log, cutoff, horizon_days, database_url, bootstrap_servers, partitions)
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
