"""The what-if's report: two replays' outcomes side by side, as figures (the JSON), a
table for the terminal, and a CSV of every member."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loyalty_cli.whatif_replay import MemberOutcome, Outcome, PurchaseLog


def _side(o: Outcome) -> dict[str, Any]:
    p = o.programme
    return {
        "programme": p.name,
        "versions": dict(o.versions),
        "earned": o.earned,
        "earned_by_rule": {"base": str(o.base), **{k: str(v) for k, v in o.by_rule.items()}},
        "clawed_back": o.total("clawed_back"),
        "expired": o.total("expired"),
        "vested": o.vested,
        "outstanding": o.outstanding,
        "owed": o.owed,
        "point_value": str(p.points.point_value),
        "outstanding_value": str(o.value),
        "tiers": o.tiers(),
        "tier_moves": {"up": o.total("moves_up"), "down": o.total("moves_down")},
        "refused": dict(o.refused),
    }


def compare(log: PurchaseLog, before: Outcome, after: Outcome, since: datetime | None,
            until: datetime | None, top: int) -> dict[str, Any]:  # fmt: skip
    """The report: both sides, what changed, and the members it moves most."""
    value = after.programme.points.point_value
    extra = after.earned - before.earned
    members = sorted(
        set(before.members) | set(after.members),
        key=lambda m: (-abs(_earned(after, m) - _earned(before, m)), m),
    )
    tiers_moved = sum(1 for m in members if _tier(before, m) != _tier(after, m))
    return {
        "log": {"commands": len(log.commands), "unreadable": dict(log.unreadable),
                "first_event": log.first, "last_event": log.last,
                "partitions": log.partitions},
        "period": {"from": since, "to": until or log.last},
        "currency": after.programme.currency,
        "current": _side(before),
        "new": _side(after),
        "change": {
            "earned": extra,
            "earned_share": None if not before.earned else f"{extra / before.earned:+.1%}",
            "cost": str(extra * value),
            "outstanding": after.outstanding - before.outstanding,
            "outstanding_value": str(after.value - before.value),
            "members_changing_tier": tiers_moved,
        },
        "most_affected": [
            {"member_id": m, "spend": str(_member(after, m).spend),
             "earned_current": _earned(before, m), "earned_new": _earned(after, m),
             "tier_current": _tier(before, m), "tier_new": _tier(after, m)}
            for m in members[:top] if _earned(after, m) != _earned(before, m)
        ],
    }  # fmt: skip


def _member(o: Outcome, member_id: str) -> Any:
    return o.members.get(member_id) or MemberOutcome()


def _earned(o: Outcome, member_id: str) -> int:
    return int(_member(o, member_id).earned)


def _tier(o: Outcome, member_id: str) -> str:
    return str(_member(o, member_id).tier or o.programme.tiers.levels[0].name)


def write_members(path: Path, before: Outcome, after: Outcome) -> None:
    """Every member: what they bought in the period and what each programme gave them."""
    fields = ("purchases", "spend", "earned", "clawed_back", "expired", "balance", "tier")
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["member_id", "purchases", "spend"]
                   + [f"{k}_{side}" for k in fields[2:] for side in ("current", "new")])  # fmt: skip
        for m in sorted(set(before.members) | set(after.members)):
            b, a = _member(before, m), _member(after, m)
            w.writerow([m, a.purchases, a.spend]
                       + [v for k in fields[2:] for v in (getattr(b, k), getattr(a, k))])  # fmt: skip


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d}"


def _n(value: Any) -> str:
    if isinstance(value, str):
        value = Decimal(value)
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _delta(a: Any, b: Any) -> str:
    d = Decimal(str(b)) - Decimal(str(a))
    return "" if d == 0 else ("+" if d > 0 else "") + _n(d)


def print_report(r: dict[str, Any]) -> None:
    out = Console()
    cur, new, ch = r["current"], r["new"], r["change"]
    lg = r["log"]
    out.print(f"[bold]What-if[/bold]: {lg['commands']:,} purchases and refunds, "
              f"{_day(lg['first_event'])} to {_day(lg['last_event'])}, "
              f"{lg['partitions']} partitions; counted "
              f"{'from the start' if r['period']['from'] is None else 'from ' + str(r['period']['from'])}"
              f" to {r['period']['to']}")  # fmt: skip
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column(f"current ({cur['programme']})", justify="right")
    table.add_column(f"new ({new['programme']})", justify="right")
    table.add_column("change", justify="right")
    table.add_row("points earned", _n(cur["earned"]), _n(new["earned"]),
                  _delta(cur["earned"], new["earned"]) + (f" ({ch['earned_share']})" if ch["earned_share"] else ""))  # fmt: skip
    for rule in dict.fromkeys([*cur["earned_by_rule"], *new["earned_by_rule"]]):
        a, b = cur["earned_by_rule"].get(rule, "0"), new["earned_by_rule"].get(rule, "0")
        label = "  at the rate and tier" if rule == "base" else f"  {rule}"
        a, b = (Decimal(x).quantize(Decimal(1)) for x in (a, b))  # rules add fractions
        table.add_row(label, _n(a), _n(b), _delta(a, b))
    for flow in ("clawed_back", "expired", "outstanding", "owed"):
        table.add_row(
            flow.replace("_", " "), _n(cur[flow]), _n(new[flow]), _delta(cur[flow], new[flow])
        )
    table.add_row(f"value of outstanding ({r['currency']})", _n(cur["outstanding_value"]),
                  _n(new["outstanding_value"]), _delta(cur["outstanding_value"], new["outstanding_value"]))  # fmt: skip
    for name in dict.fromkeys([*cur["tiers"], *new["tiers"]]):
        a, b = cur["tiers"].get(name, 0), new["tiers"].get(name, 0)
        table.add_row(f"in {name} at the end", _n(a), _n(b), _delta(a, b))
    for way in ("up", "down"):
        a, b = cur["tier_moves"][way], new["tier_moves"][way]
        table.add_row(f"tier moves {way}", _n(a), _n(b), _delta(a, b))
    out.print(table)
    out.print(f"cost of the change: {r['currency']} {_n(ch['cost'])} "
              f"({_n(ch['earned'])} points at {new['point_value']}); "
              f"{ch['members_changing_tier']:,} members end in another tier")  # fmt: skip
    if r["most_affected"]:
        most = Table(title="members most affected", show_edge=False, pad_edge=False)
        for col in (
            "member",
            "spend",
            "earned now",
            "earned new",
            "change",
            "tier now",
            "tier new",
        ):
            most.add_column(col, justify="left" if col.startswith(("member", "tier")) else "right",
                            no_wrap=col == "member")  # fmt: skip
        for m in r["most_affected"]:
            most.add_row(m["member_id"], _n(m["spend"]), _n(m["earned_current"]),
                         _n(m["earned_new"]), _delta(m["earned_current"], m["earned_new"]),
                         m["tier_current"], m["tier_new"])  # fmt: skip
        out.print(most)
    refused = {**cur["refused"], **lg["unreadable"]}
    if refused:
        out.print("left out (the consumers would dead-letter them): "
                  + ", ".join(f"{k} {v:,}" for k, v in sorted(refused.items())))  # fmt: skip
