"""`loyalty points liability`: what the programme owes its members, from the points
service's liability report."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from loyalty_cli.options import utc_moment
from loyalty_cli.report_call import fetch_report

points_app = typer.Typer(help="Points: the programme's liability.", no_args_is_help=True)
console = Console()

FLOWS = ("earned", "vested", "redeemed", "restored", "clawed_back", "adjusted", "expired")


@points_app.command("liability")
def liability(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO date or time (UTC if no zone); default now")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Period start; default --to less 30 days")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Period end; default --as-of")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="One figure a line, as CSV")] = False,
    url: Annotated[str, typer.Option(help="The points service")] = "http://127.0.0.1:8001",
    api_key: Annotated[
        str | None, typer.Option(envvar="LOYALTY_API_KEY", help="An ops key with points:read")
    ] = None,
) -> None:
    """Print the points members hold and their value, what members owe, what moved in
    the period, breakage over the last 12 months, and what expires in 30, 60, 90 days."""
    params = {name: utc_moment(value).isoformat()
              for name, value in (("as_of", as_of), ("from", start), ("to", end)) if value}  # fmt: skip
    body = fetch_report(url, "/v1/points/liability", params, api_key, "points service", 120)
    if as_csv:
        write_csv(body)
    else:
        print_liability(body)


def figures(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Every figure of the report as (name, value), in reading order."""
    out = [("as_of", body["as_of"]), ("currency", body["currency"]),
           ("point_value", body["point_value"]),
           ("outstanding_points", str(body["outstanding"]["points"])),
           ("outstanding_value", body["outstanding"]["value"]),
           ("members_holding", str(body["outstanding"]["members"])),
           ("owed_points", str(body["owed"]["points"])),
           ("members_owing", str(body["owed"]["members"])),
           ("available", str(body["available"])), ("pending", str(body["pending"])),
           ("period_from", body["period"]["start"]), ("period_to", body["period"]["end"])]  # fmt: skip
    out += [(f"period_{name}", str(body["period"][name])) for name in FLOWS]
    breakage = body["breakage"]
    out += [("breakage_earned", str(breakage["earned"])),
            ("breakage_expired", str(breakage["expired"])),
            ("breakage_rate", breakage["rate"] or "")]  # fmt: skip
    for row in body["expiring"]:
        days = row["within_days"]
        out += [(f"expiring_{days}d_points", str(row["points"])),
                (f"expiring_{days}d_value", row["value"])]  # fmt: skip
    return out


def write_csv(body: dict[str, Any]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["figure", "value"])
    writer.writerows(figures(body))


def print_liability(body: dict[str, Any]) -> None:
    currency = body["currency"]
    console.rule(f"points liability as of {_short(body['as_of'])}")
    held = body["outstanding"]
    console.print(
        f"[bold]{held['points']:,}[/] points held by {held['members']:,} members, "
        f"worth [bold]{Decimal(held['value']):,.2f} {currency}[/] at {body['point_value']} a point"
    )
    console.print(f"  spendable {body['available']:,}   pending {body['pending']:,}")
    owed = body["owed"]
    if owed["points"]:
        console.print(f"  [red]{owed['points']:,} points owed by {owed['members']:,} members[/]")
    period = body["period"]
    console.print(f"moved from {_short(period['start'])} to {_short(period['end'])}:")
    moved = Table("kind", "points")
    for name in FLOWS:
        moved.add_row(name.replace("_", " "), f"{period[name]:,}")
    console.print(moved)
    breakage = body["breakage"]
    rate = breakage["rate"]
    share = "-" if rate is None else f"{Decimal(rate) * 100:.2f}%"
    console.print(f"breakage, last 12 months: {share} "
                  f"({breakage['expired']:,} expired of {breakage['earned']:,} earned)")  # fmt: skip
    soon = Table("expiring within", "points", f"value ({currency})")
    for row in body["expiring"]:
        soon.add_row(
            f"{row['within_days']} days", f"{row['points']:,}", f"{Decimal(row['value']):,.2f}"
        )
    console.print(soon)


def _short(moment: str) -> str:
    """An RFC 3339 moment to the minute, for reading."""
    return moment[:16].replace("T", " ") + " UTC" if moment.endswith("Z") else moment
