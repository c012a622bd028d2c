"""`loyalty churn ...` and `loyalty alerts tail`: the churn watch from a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loyalty_cli.options import utc_moment
from loyalty_cli.replay import read_jsonl
from loyalty_platform.settings import KafkaSettings

churn_app = typer.Typer(help="Churn watch: backtests, synthetic logs.", no_args_is_help=True)
alerts_app = typer.Typer(help="Churn alerts.", no_args_is_help=True)
console = Console()

SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}
RESOLVED = "loyalty.churn.alert_resolved.v1"


@churn_app.command("backtest")
def backtest(
    log: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines of purchase CloudEvents")
    ],
    cutoff: Annotated[str, typer.Option(help="Score as of this date (ISO; UTC if no zone)")],
    horizon: Annotated[int, typer.Option(help="Churned: no purchase within this many days")] = 180,
    out: Annotated[
        Path | None, typer.Option(help="Write every member's scores and label here (CSV)")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results here (JSON)")
    ] = None,
    database_server: Annotated[
        str | None, typer.Option(help="A PostgreSQL server to use instead of an embedded one")
    ] = None,
    bootstrap_servers: Annotated[
        str | None, typer.Option(help="A Kafka broker to use instead of an embedded one")
    ] = None,
) -> None:
    """Replay LOG up to CUTOFF into a fresh churn watch, score everyone as of CUTOFF, and
    compare with who bought again within HORIZON days; recency, BG/NBD and Pareto/NBD
    rank the same members for comparison."""
    from loyalty_cli.backtest import rows as result_rows
    from loyalty_cli.backtest import run_backtest
    from loyalty_cli.backtest_rankings import SHARES

    moment = utc_moment(cutoff)
    with console.status("replaying the log into a fresh churn watch ..."):
        result = run_backtest(
            read_jsonl(log),
            moment,
            horizon,
            database_server=database_server,
            bootstrap_servers=bootstrap_servers,
        )
    if result.unreadable:
        console.print(f"[yellow]{result.unreadable} unreadable lines left out[/]")
    if result.last_event is None or result.last_event < moment + timedelta(days=horizon):
        console.print(
            f"[yellow]the log ends before the horizon does ({result.last_event}): members "
            "counted as churned may simply not have been seen yet[/]"
        )
    console.print(
        f"{result.members} members with a purchase by {moment:%Y-%m-%d}; "
        f"{result.churned} ({result.churned / result.members:.1%}) made none in the next "
        f"{horizon} days. Replayed {result.replayed} events in {result.seconds:.1f} s."
    )
    table = Table(title=f"Ranking who stops buying, as of {moment:%Y-%m-%d}")
    table.add_column("model")
    table.add_column("AUC", justify="right")
    for share in SHARES:
        for label in ("prec", "rec", "rev"):
            table.add_column(f"{label}@{share:.0%}", justify="right")
    table.add_column("Brier", justify="right")
    for cells in result_rows(result):
        table.add_row(*cells)
    console.print(table)
    ours = result.results[0]
    if ours.calibration:
        bands = ", ".join(
            f"{band.mean_score:.2f}→{band.churn_rate:.2f} ({band.members})"
            for band in ours.calibration
        )
        console.print(f"churn watch calibration, mean score → churn rate (members): {bands}")
    console.print(
        "[dim]prec, rec: precision and recall of calling the top share by risk churners; "
        f"rev: the share of the churners' spend (in the {horizon} days before the cutoff) "
        "caught in that top share; Brier: for scores read as probabilities (lower is better).[/]"
    )
    if out is not None:
        with out.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(result.per_member[0]))
            writer.writeheader()
            writer.writerows(result.per_member)
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_json(), indent=2, default=str))


@churn_app.command("synth")
def synth(
    out: Annotated[Path, typer.Option(help="Where to write the JSON lines")],
    members: Annotated[int, typer.Option(help="How many members")] = 2000,
    days: Annotated[int, typer.Option(help="How many days of trading")] = 730,
    start: Annotated[str, typer.Option(help="First day (ISO)")] = "2024-01-01",
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same log")] = 1,
) -> None:
    """A synthetic purchase log with known churn behaviour, for trying the backtest."""
    from loyalty_cli.churn_logs import synthetic_churn_log, write_jsonl

    count = write_jsonl(synthetic_churn_log(members, utc_moment(start), days, seed), out)
    console.print(f"wrote {count} events to {out}")


def alert_line(event: dict[str, Any]) -> Text:
    """One alert move, readable at a glance: when, severity, member, score, value,
    signals, and for a revision what changed."""
    data = event.get("data") or {}
    when = str(event.get("time", ""))[:16].replace("T", " ")
    member = str(data.get("member_id", event.get("subject", "?")))
    line = Text(f"{when}  ")
    if event.get("type") == RESOLVED:
        line.append("RESOLVED".ljust(9), style="bold green")
        line.append(f"{member:<20} was {data.get('severity', '?')}")
        if "risk_score" in data:
            line.append(f", risk now {float(data['risk_score']):.2f}")
        return _changed(line, data)
    severity = str(data.get("severity", "?"))
    line.append(severity.upper().ljust(9), style=SEVERITY_STYLE.get(severity, ""))
    line.append(f"{member:<20} ")
    line.append(f"risk {float(data.get('risk_score', 0)):.2f}  ")
    line.append(f"at risk {data.get('value_at_risk', '?'):>10}  ", style="bold")
    if data.get("tier"):
        line.append(f"{data['tier']:<8} ", style="magenta")
    signals = [f"{s['code']} {s['observed']:g}/{s['threshold']:g}" for s in data.get("signals", [])]
    line.append(", ".join(signals) or "no signal", style="dim")
    status = data.get("status")
    if status in ("escalated", "de_escalated"):
        line.append(f"  ({status.replace('_', '-')})", style="italic")
    return _changed(line, data)


def _changed(line: Text, data: dict[str, Any]) -> Text:
    changes = data.get("changes") or {}
    if changes.get("reason") and data.get("status") != "opened":
        line.append(f"  {changes['reason']}", style="dim italic")
    return line


def shown_at(event: dict[str, Any], floor: int) -> bool:
    """Whether `tail --severity` shows the event: at or above the floor, or a move of
    an alert that was (a de-escalation or a resolution of one the reader saw)."""
    order = ["low", "medium", "high"]
    data = event.get("data") or {}
    before = (data.get("changes") or {}).get("severity_from")
    levels = [data.get("severity"), before]
    return any(level in order and order.index(level) >= floor for level in levels) or (
        event.get("type") == RESOLVED and before is None
    )


async def follow_alerts(
    kafka: KafkaSettings,
    show: Callable[[dict[str, Any]], None],
    *,
    backlog: int = 10,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Print the last `backlog` alerts on the topic, then each new one as it comes."""
    topic = kafka.topics.churn_alerts
    consumer = AIOKafkaConsumer(**kafka.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        earlier: list[dict[str, Any]] = []
        catching_up = True
        while not stop():
            batches = await consumer.getmany(timeout_ms=500)
            events = [json.loads(m.value) for msgs in batches.values() for m in msgs]
            if catching_up:
                earlier.extend(events)
                if not events:  # caught up: the backlog is what was there
                    earlier.sort(key=lambda e: str(e.get("time", "")))
                    for event in earlier[-backlog:] if backlog else []:
                        show(event)
                    catching_up = False
                continue
            for event in sorted(events, key=lambda e: str(e.get("time", ""))):
                show(event)
    finally:
        await consumer.stop()


@alerts_app.command("tail")
def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", help="Earlier alerts to show first")] = 10,
    severity: Annotated[
        str | None, typer.Option(help="Only this severity and above (low, medium, high)")
    ] = None,
) -> None:
    """Follow `churn.alerts`: one line per alert move (opened, escalated, de-escalated,
    resolved), coloured by severity."""
    order = ["low", "medium", "high"]
    floor = order.index(severity) if severity in order else 0

    def show(event: dict[str, Any]) -> None:
        if shown_at(event, floor):
            console.print(alert_line(event))

    console.print("[dim]following churn.alerts; Ctrl-C to stop[/]")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow_alerts(KafkaSettings(), show, backlog=lines))
