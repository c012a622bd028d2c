"""`loyalty tiers report`: the tier distribution and movement over a period, from the
tier service's report endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loyalty_cli.options import utc_moment
from loyalty_cli.report_call import fetch_report

tiers_app = typer.Typer(help="Tier status.", no_args_is_help=True)
console = Console()


@tiers_app.command("report")
def report(
    start: Annotated[
        str | None, typer.Option("--from", help="Start, ISO date or time (UTC if no zone)")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End, ISO date or time; default now")
    ] = None,
    days: Annotated[int, typer.Option(help="Period length when --from is not given")] = 30,
    url: Annotated[str, typer.Option(help="The tier service")] = "http://127.0.0.1:8002",
    api_key: Annotated[
        str | None, typer.Option(envvar="LOYALTY_API_KEY", help="An ops key with tiers:read")
    ] = None,
) -> None:
    """Print the tier distribution at both ends of the period, upgrades and downgrades
    between tiers, and retention per tier (members still in it at the end)."""
    until = utc_moment(end) if end else datetime.now(UTC)
    since = utc_moment(start) if start else until - timedelta(days=days)
    params = {"from": since.isoformat(), "to": until.isoformat()}
    print_report(fetch_report(url, "/v1/tiers/report", params, api_key, "tier service"))


def print_report(body: dict[str, Any]) -> None:
    console.rule(f"tiers from {body['start']} to {body['end']}")
    table = Table("tier", "at start", "at end", "retained", "retention")
    for row in reversed(body["tiers"]):
        share = row["retention"]
        table.add_row(
            row["tier"],
            str(row["members_at_start"]),
            str(row["members_at_end"]),
            str(row["retained"]),
            "-" if share is None else f"{Decimal(share) * 100:.1f}%",
        )
    console.print(table)
    moves = Table("from", "to", "direction", "changes")
    for move in body["movements"]:
        colour = "green" if move["direction"] == "up" else "red"
        moves.add_row(
            move["from_tier"],
            move["to_tier"],
            f"[{colour}]{move['direction']}[/]",
            str(move["changes"]),
        )
    console.print(moves)
    console.print(f"upgrades: {body['upgrades']}   downgrades: {body['downgrades']}")
