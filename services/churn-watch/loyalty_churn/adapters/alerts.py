"""Storing churn alerts: each member's latest alert, and alerts as they stand after a
batch, in two statements."""

from __future__ import annotations

import json
from typing import Any

from loyalty_churn.adapters.orm import SCHEMA
from loyalty_churn.domain.alerts import ChurnAlert
from loyalty_churn.domain.signals import Signal, SignalCode

_LATEST_ALERTS = f"""
    select distinct on (member_id) alert_id, member_id, severity, score, signals, tier,
        value_at_risk, last_purchase_at, opened_at, updated_at, revision, resolved_at
    from {SCHEMA}.alerts where member_id = any($1::text[])
    order by member_id, alert_id desc"""
_ALERT_COLUMNS = """severity, score, signals, tier, value_at_risk, last_purchase_at,
    updated_at, revision, resolved_at"""
_ALERT_TYPES = """$2::text[], $3::float8[], $4::jsonb[], $5::text[], $6::numeric[],
    $7::timestamptz[], $8::timestamptz[], $9::int[], $10::timestamptz[]"""
_INSERT_ALERTS = f"""
    insert into {SCHEMA}.alerts (member_id, opened_at, {_ALERT_COLUMNS})
    select * from unnest($1::text[], $11::timestamptz[], {_ALERT_TYPES})"""
_UPDATE_ALERTS = f"""
    update {SCHEMA}.alerts a set ({_ALERT_COLUMNS}) = (
        u.severity, u.score, u.signals, u.tier, u.value_at_risk, u.last_purchase_at,
        u.updated_at, u.revision, u.resolved_at)
    from unnest($1::bigint[], {_ALERT_TYPES})
        as u(alert_id, {_ALERT_COLUMNS})
    where a.alert_id = u.alert_id"""


def signals_from_json(raw: Any) -> list[Signal]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [Signal(SignalCode(s["code"]), s["observed"], s["threshold"]) for s in items]


def _alert(row: Any) -> ChurnAlert:
    return ChurnAlert(
        member_id=row[1],
        opened_at=row[8],
        severity=row[2],
        score=row[3],
        signals=signals_from_json(row[4]),
        tier=row[5],
        value_at_risk=row[6],
        last_purchase_at=row[7],
        updated_at=row[9],
        revision=row[10],
        resolved_at=row[11],
        alert_id=row[0],
    )


async def latest_alerts(db: Any, members: list[str]) -> dict[str, ChurnAlert]:
    """Each member's latest alert, open or resolved."""
    return {r[1]: _alert(r) for r in await db.fetch(_LATEST_ALERTS, members)}


async def save_alerts(db: Any, alerts: list[ChurnAlert]) -> None:
    """Each alert as it stands: known ones updated, then new ones inserted (a member's
    resolved alert must be closed before their next one opens); two statements."""
    for query, chosen in (
        (_UPDATE_ALERTS, [a for a in alerts if a.alert_id is not None]),
        (_INSERT_ALERTS, [a for a in alerts if a.alert_id is None]),
    ):
        if not chosen:
            continue
        first = (
            [a.member_id for a in chosen]
            if query is _INSERT_ALERTS
            else [a.alert_id for a in chosen]
        )
        columns = [
            first,
            [a.severity for a in chosen],
            [a.score for a in chosen],
            [json.dumps([s.as_dict() for s in a.signals]) for a in chosen],
            [a.tier for a in chosen],
            [a.value_at_risk for a in chosen],
            [a.last_purchase_at for a in chosen],
            [a.updated_at for a in chosen],
            [a.revision for a in chosen],
            [a.resolved_at for a in chosen],
        ]
        if query is _INSERT_ALERTS:
            columns.append([a.opened_at for a in chosen])
        await db.execute(query, *columns)
