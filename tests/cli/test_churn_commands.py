"""`loyalty churn backtest` through a real, fresh churn watch, and `loyalty alerts tail`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyalty_cli.churn import alert_line, follow_alerts, shown_at
from loyalty_cli.churn_logs import synthetic_churn_log
from loyalty_cli.main import app
from loyalty_cli.stack import EmbeddedBroker
from loyalty_platform.settings import KafkaSettings
from tests.support.events import encode, iso
from tests.support.kafka import publish

START = datetime(2024, 1, 1, tzinfo=UTC)
CUTOFF = START + timedelta(days=540)


def test_the_backtest_scores_everyone_and_ranks_churners_first(
    tmp_path: Path, database_server: str, broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The least consumer session the settings allow: the embedded broker lets the fresh
    # churn watch join in about half a session (3 s instead of 5 s).
    monkeypatch.setenv("CHURN_SESSION_TIMEOUT_SECONDS", "6")
    log = tmp_path / "log.jsonl"
    events = list(synthetic_churn_log(500, START, 800, seed=11))
    log.write_bytes(b"".join(e.to_bytes() + b"\n" for e in events))
    result_file = tmp_path / "result.json"
    result = CliRunner().invoke(app, [
        "churn", "backtest", str(log), "--cutoff", CUTOFF.date().isoformat(), "--horizon", "180",
        "--json", str(result_file), "--out", str(tmp_path / "scores.csv"),
        "--database-server", database_server, "--bootstrap-servers", broker.bootstrap_servers,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "members with a purchase by 2025-06-24" in result.output
    assert "AUC" in result.output
    body = json.loads(result_file.read_text())

    # the labels, counted straight from the log
    bought_before = {
        e.subject for e in events if e.type.endswith("completed.v1") and e.time <= CUTOFF
    }
    bought_after = {
        e.subject for e in events
        if e.type.endswith("completed.v1") and CUTOFF < e.time <= CUTOFF + timedelta(days=180)
    }  # fmt: skip
    assert body["members"] == len(bought_before)
    assert body["churned"] == len(bought_before - bought_after)
    assert body["replayed_events"] == sum(e.time <= CUTOFF for e in events)

    results = {r["model"]: r for r in body["results"]}
    assert set(results) == {"churn watch", "recency", "BG/NBD", "Pareto/NBD"}
    ours = results["churn watch"]
    assert ours["roc_auc"] > 0.8
    # read as probabilities, better than saying the churn rate to everyone
    rate = body["churn_rate"]
    assert ours["brier"] < rate * (1 - rate)
    assert body["model"]["calibration"] is not None
    # read by band, the score is the churn rate it says
    for band in ours["calibration"]:
        if band["members"] >= 50:
            assert band["mean_score"] == pytest.approx(band["churn_rate"], abs=0.15)
    assert "churn watch calibration" in result.output
    lines = (tmp_path / "scores.csv").read_text().splitlines()
    assert len(lines) == body["members"] + 1


def alert(member: str, severity: str, at: datetime, codes: list[str]) -> dict:
    return {
        "specversion": "1.0", "id": f"a-{member}-{severity}", "source": "loyalty/churn-watch",
        "type": "loyalty.churn.alert.v1", "time": iso(at), "subject": member,
        "data": {
            "member_id": member, "severity": severity, "risk_score": 0.91,
            "signals": [{"code": c, "observed": 200.0, "threshold": 180.0} for c in codes],
            "tier": "ruby", "value_at_risk": "1234.50", "last_purchase_at": iso(at),
            "status": "opened",
        },
    }  # fmt: skip


def test_an_alert_reads_at_a_glance() -> None:
    line = alert_line(alert("member-7", "high", START, ["lapsed", "overdue"]))
    text = line.plain
    assert text.startswith("2024-01-01 00:00  HIGH")
    assert "member-7" in text
    assert "1234.50" in text
    assert "lapsed 200/180, overdue 200/180" in text
    high = next(span for span in line.spans if text[span.start : span.end].strip() == "HIGH")
    assert high.style == "bold red"
    low = alert_line(alert("member-8", "low", START, ["overdue"]))
    assert any(span.style == "cyan" for span in low.spans)


def test_a_de_escalation_and_a_resolution_read_at_a_glance_and_pass_the_severity_floor() -> None:
    calmer = alert("member-9", "low", START, ["overdue"])
    calmer["data"].update(
        status="de_escalated",
        risk_score=0.41,
        changes={
            "severity_from": "high", "severity_to": "low", "signals_added": [],
            "signals_removed": ["lapsed"], "cause": "purchase",
            "reason": "high to low; lapsed cleared, at a purchase",
        },
    )  # fmt: skip
    text = alert_line(calmer).plain
    assert "LOW" in text
    assert "(de-escalated)" in text
    assert "high to low; lapsed cleared, at a purchase" in text
    resolved = {
        "type": "loyalty.churn.alert_resolved.v1", "time": iso(START), "subject": "member-9",
        "data": {"member_id": "member-9", "severity": "high", "risk_score": 0.12,
                 "changes": {"severity_from": "high", "severity_to": None, "reason": "x"}},
    }  # fmt: skip
    assert "RESOLVED" in alert_line(resolved).plain
    assert "was high" in alert_line(resolved).plain
    high_floor = 2
    assert shown_at(calmer, high_floor)  # it was high: whoever watched it sees it calm down
    assert shown_at(resolved, high_floor)
    assert not shown_at(alert("member-10", "low", START, ["overdue"]), high_floor)
    quieter = {**resolved, "data": {**resolved["data"], "severity": "low",
                                    "changes": {"severity_from": "low"}}}  # fmt: skip
    assert not shown_at(quieter, high_floor)


async def wait_until(condition, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)


async def test_tail_shows_the_backlog_then_follows(kafka: KafkaSettings) -> None:
    topic = kafka.topics.churn_alerts
    earlier = [alert(f"m-{n}", "low", START + timedelta(hours=n), ["overdue"]) for n in range(5)]
    await publish(kafka, topic, [(e["subject"].encode(), encode(e)) for e in earlier])
    shown: list[str] = []
    later = alert("m-late", "high", START + timedelta(days=1), ["lapsed"])

    async def follow() -> None:
        await follow_alerts(
            kafka, lambda e: shown.append(e["subject"]), backlog=2, stop=lambda: len(shown) >= 3
        )

    task = asyncio.create_task(follow())
    await wait_until(lambda: len(shown) >= 2)
    await publish(kafka, topic, [(b"m-late", encode(later))])
    await asyncio.wait_for(task, 30)
    assert shown == ["m-3", "m-4", "m-late"]


def test_the_log_split_leaves_out_unreadable_lines_and_counts_them() -> None:
    from loyalty_cli.backtest_log import split_log

    good = [e.to_bytes() for e in synthetic_churn_log(20, START, 400, seed=5)]
    bad = [b"not json", b'{"time": "2024-02-01T00:00:00", "data": {"member_id": "x"}}', b"{}"]
    log = split_log([*good[:10], *bad, *good[10:]], CUTOFF, timedelta(days=180))
    assert log.unreadable == 3
    times = [
        datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")) for line in good
    ]
    assert len(log.before) == sum(at <= CUTOFF for at in times)
