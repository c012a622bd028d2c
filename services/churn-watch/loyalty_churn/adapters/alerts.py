"""Storing churn alerts: each member's latest alert, alerts as they stand after a batch,
and every revision, in a few statements whatever the batch's size."""

from __future__ import annotations

import json
from typing import Any

from loyalty_churn.adapters.orm import SCHEMA
from loyalty_churn.domain.alerts import AlertRevision, ChurnAlert
from loyalty_churn.domain.signals import Signal, SignalCode

_LATEST_ALERTS = f"""
    select distinct on (member_id) alert_id, member_id, severity, score, signals, tier,
        value_at_risk, last_purchase_at, opened_at, updated_at, revision, resolved_at,
        revised_at
    from {SCHEMA}.alerts where member_id = any($1::text[])
    order by member_id, alert_id desc"""
_ALERT_COLUMNS = """severity, score, signals, tier, value_at_risk, last_purchase_at,
    updated_at, revision, resolved_at, revised_at"""
_ALERT_TYPES = """$2::text[], $3::float8[], $4::jsonb[], $5::text[], $6::numeric[],
    $7::timestamptz[], $8::timestamptz[], $9::int[], $10::timestamptz[], $11::timestamptz[]"""
# Ids are taken first, so the revisions of an alert new in this batch can name it.
_NEW_IDS = f"""
    select nextval(pg_get_serial_sequence('{SCHEMA}.alerts', 'alert_id'))
    from generate_series(1, $1)"""
_INSERT_ALERTS = f"""
    insert into {SCHEMA}.alerts (alert_id, member_id, opened_at, {_ALERT_COLUMNS})
    select u.alert_id, u.member_id, u.opened_at, {_ALERT_COLUMNS}
    from unnest($1::bigint[], {_ALERT_TYPES}, $12::text[], $13::timestamptz[])
        as u(alert_id, {_ALERT_COLUMNS}, member_id, opened_at)"""
_UPDATE_ALERTS = f"""
    update {SCHEMA}.alerts a set ({_ALERT_COLUMNS}) = (
        u.severity, u.score, u.signals, u.tier, u.value_at_risk, u.last_purchase_at,
        u.updated_at, u.revision, u.resolved_at, u.revised_at)
    from unnest($1::bigint[], {_ALERT_TYPES})
        as u(alert_id, {_ALERT_COLUMNS})
    where a.alert_id = u.alert_id"""
_INSERT_REVISIONS = f"""
    insert into {SCHEMA}.alert_revisions (alert_id, revision, move, at, severity, score,
        signals, tier, value_at_risk, last_purchase_at, severity_from, severity_to,
        signals_added, signals_removed, cause)
    select * from unnest($1::bigint[], $2::int[], $3::text[], $4::timestamptz[],
        $5::text[], $6::float8[], $7::jsonb[], $8::text[], $9::numeric[],
        $10::timestamptz[], $11::text[], $12::text[], $13::jsonb[], $14::jsonb[],
        $15::text[])"""


def signals_from_json(raw: Any) -> list[Signal]:
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [Signal(SignalCode(s["code"]), s["observed"], s["threshold"]) for s in items]


def _signals_json(signals: Any) -> str:
    return json.dumps([s.as_dict() for s in signals])


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
        revised_at=row[12],
        alert_id=row[0],
    )


async def latest_alerts(db: Any, members: list[str]) -> dict[str, ChurnAlert]:
    """Each member's latest alert, open or resolved."""
    return {r[1]: _alert(r) for r in await db.fetch(_LATEST_ALERTS, members)}


def _columns(alerts: list[ChurnAlert]) -> list[list[Any]]:
    """The columns after the id, in `_ALERT_COLUMNS` order."""
    return [
        [a.severity for a in alerts],
        [a.score for a in alerts],
        [_signals_json(a.signals) for a in alerts],
        [a.tier for a in alerts],
        [a.value_at_risk for a in alerts],
        [a.last_purchase_at for a in alerts],
        [a.updated_at for a in alerts],
        [a.revision for a in alerts],
        [a.resolved_at for a in alerts],
        [a.revised_at for a in alerts],
    ]


async def save_alerts(db: Any, alerts: list[ChurnAlert]) -> None:
    """Each alert as it stands, and its new revisions: known alerts updated, then new
    ones inserted (a member's resolved alert must be closed before their next one
    opens), then the revisions."""
    known = [a for a in alerts if a.alert_id is not None]
    new = [a for a in alerts if a.alert_id is None]
    if known:
        await db.execute(_UPDATE_ALERTS, [a.alert_id for a in known], *_columns(known))
    if new:
        ids = [r[0] for r in await db.fetch(_NEW_IDS, len(new))]
        for alert, alert_id in zip(new, ids, strict=True):
            alert.alert_id = alert_id
        await db.execute(
            _INSERT_ALERTS,
            ids,
            *_columns(new),
            [a.member_id for a in new],
            [a.opened_at for a in new],
        )
    revisions = [(a.alert_id, r) for a in alerts for r in a.new_revisions]
    if revisions:
        await db.execute(_INSERT_REVISIONS, *_revision_columns(revisions))


def _revision_columns(revisions: list[tuple[int | None, AlertRevision]]) -> list[list[Any]]:
    return [
        [alert_id for alert_id, _ in revisions],
        [r.revision for _, r in revisions],
        [r.move.value for _, r in revisions],
        [r.at for _, r in revisions],
        [r.severity for _, r in revisions],
        [r.score for _, r in revisions],
        [_signals_json(r.signals) for _, r in revisions],
        [r.tier for _, r in revisions],
        [r.value_at_risk for _, r in revisions],
        [r.last_purchase_at for _, r in revisions],
        [r.change.severity_from for _, r in revisions],
        [r.change.severity_to for _, r in revisions],
        [json.dumps(r.change.signals_added) for _, r in revisions],
        [json.dumps(r.change.signals_removed) for _, r in revisions],
        [r.change.cause.value for _, r in revisions],
    ]
