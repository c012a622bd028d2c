"""Loading and saving watched members and their facts, a batch at a time.

The consumer's hot path, like the other services': asyncpg directly inside the unit
of work's transaction, array parameters, COPY for the append-only facts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_churn.adapters.alerts import latest_alerts, save_alerts
from loyalty_churn.adapters.orm import SCHEMA
from loyalty_churn.domain.behaviour import MemberHistory, Refund, RewardTaken, TierMove, Visit
from loyalty_churn.domain.risk import RiskModel
from loyalty_churn.domain.watch import MemberWatch
from loyalty_kernel.intake.commands import PurchaseKey
from loyalty_kernel.watermarks import PartitionWatermarks
from loyalty_platform.clocks import PartitionClocks
from loyalty_platform.database import copy_rows, driver_connection, lock_members

_DUE = f"""
    select m.member_id from {SCHEMA}.members m
    join unnest($1::int[], $2::timestamptz[]) as d(partition, watermark)
      on m.partition = d.partition and m.due_at <= d.watermark"""
_MEMBERS = f"""
    select member_id, partition, clock, due_at, score
    from {SCHEMA}.members where member_id = any($1::text[]) order by member_id"""
# Each member's facts, in time order; `{where}` picks the members (or all of them).
_VISITS = f"""
    select member_id, purchase_id, occurred_at, amount, store_id from {SCHEMA}.purchases
    where {{where}} order by member_id, occurred_at, purchase_id, store_id"""
_RETURNS = f"""
    select member_id, refund_id, purchase_id, occurred_at, amount, store_id
    from {SCHEMA}.refunds
    where {{where}} order by member_id, occurred_at, refund_id, store_id, purchase_id"""
_TIER_MOVES = f"""
    select member_id, sequence, effective_at, from_tier, to_tier, direction
    from {SCHEMA}.tier_moves where {{where}} order by member_id, effective_at, sequence"""
_REWARDS = f"""
    select member_id, redemption_id, kind, occurred_at, points from {SCHEMA}.rewards_taken
    where {{where}} order by member_id, occurred_at, redemption_id, kind"""
_APPLIED = f"select coalesce(sum(next_offset), 0) from {SCHEMA}.consumer_progress"
_OWNERS = f"""
    select store_id, purchase_id, member_id from {SCHEMA}.purchases
    where purchase_id = any($1::text[])"""
_SAVE_MEMBERS = f"""
    insert into {SCHEMA}.members (member_id, partition, clock, due_at, score)
    select * from unnest($1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[],
                         $5::float8[])
    on conflict (member_id) do update set
        partition = excluded.partition, clock = excluded.clock,
        due_at = excluded.due_at, score = excluded.score"""
_LATEST_MODEL = f"""
    select version, params from {SCHEMA}.risk_models order by version desc limit 1"""
_SAVE_MODEL = f"""
    insert into {SCHEMA}.risk_models (fitted_as_of, params) values ($1, $2::jsonb)
    returning version"""


@dataclass
class NewFacts:
    """What a batch learnt, to append."""

    visits: list[tuple[str, Visit]] = field(default_factory=list)
    refunds: list[tuple[str, Refund]] = field(default_factory=list)
    tier_moves: list[tuple[str, TierMove]] = field(default_factory=list)
    rewards: list[tuple[str, str, RewardTaken]] = field(default_factory=list)  # kind


class WatchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.clocks = PartitionClocks(session, SCHEMA)

    async def _db(self) -> Any:
        return await driver_connection(self._session)

    async def due(self, watermarks: PartitionWatermarks) -> list[str]:
        """Members of these partitions whose next assessment falls due by the watermark."""
        known = watermarks.known()
        if not known:
            return []
        db = await self._db()
        rows = await db.fetch(_DUE, list(known), list(known.values()))
        return [r[0] for r in rows]

    async def applied(self) -> int:
        """How many messages this service has applied, over every partition: it moves
        whenever the facts do."""
        db = await self._db()
        return int(await db.fetchval(_APPLIED))

    async def owners(self, purchase_ids: Iterable[str]) -> dict[PurchaseKey, str]:
        """Which member each recorded purchase with these ids (at any store) belongs to."""
        db = await self._db()
        rows = await db.fetch(_OWNERS, sorted(set(purchase_ids)))
        return {(store, pid): member for store, pid, member in rows}

    async def load(
        self, members: Iterable[str], *, lock: bool = True
    ) -> tuple[dict[str, MemberWatch], dict[str, int]]:
        """The members' watches with their whole history (rows locked; a member never
        seen gets an empty watch), and the partitions of those seen before."""
        db = await self._db()
        wanted = sorted(set(members))
        if lock:
            rows = await lock_members(db, _MEMBERS + " for update", wanted, "churn.members")
        else:
            rows = await db.fetch(_MEMBERS, wanted)
        histories = await self.histories(wanted)
        alerts = await latest_alerts(db, wanted)
        watches = {m: MemberWatch(histories[m], alert=alerts.get(m)) for m in wanted}
        partitions = {}
        for member, partition, clock, due_at, score in rows:
            watch = watches[member]
            watch.clock, watch.due_at, watch.score = clock, due_at, score
            partitions[member] = partition
        return watches, partitions

    async def histories(self, members: Sequence[str] | None = None) -> dict[str, MemberHistory]:
        """The members' histories (every member's when `members` is None)."""
        db = await self._db()
        where = "true" if members is None else "member_id = any($1::text[])"
        args: list[Any] = [] if members is None else [list(members)]
        histories = {m: MemberHistory(m) for m in members or ()}
        for query, add in (
            (_VISITS, _add_visit),
            (_RETURNS, _add_refund),
            (_TIER_MOVES, _add_tier_move),
            (_REWARDS, _add_reward),
        ):
            for row in await db.fetch(query.format(where=where), *args):
                history = histories.get(row[0])
                if history is None:
                    history = histories[row[0]] = MemberHistory(row[0])
                add(history, row)
        return histories

    async def save(
        self, watches: Iterable[MemberWatch], partitions: Mapping[str, int], facts: NewFacts
    ) -> None:
        db = await self._db()
        touched = sorted(
            (w for w in watches if w.member_id in partitions), key=lambda w: w.member_id
        )
        if touched:
            await db.execute(
                _SAVE_MEMBERS,
                [w.member_id for w in touched],
                [partitions[w.member_id] for w in touched],
                [w.clock for w in touched],
                [w.due_at for w in touched],
                [w.score for w in touched],
            )
        await self._append(db, facts)
        changed = [
            alert
            for watch in touched
            for alert in [*watch.closed, *([watch.alert] if watch.alert else [])]
            if alert.refreshed
        ]
        for watch in touched:
            watch.closed = []
        await save_alerts(db, changed)

    async def _append(self, db: Any, facts: NewFacts) -> None:
        await copy_rows(
            db,
            SCHEMA,
            "purchases",
            ["store_id", "purchase_id", "member_id", "amount", "occurred_at"],
            [(v.store_id, v.purchase_id, m, v.amount, v.at) for m, v in facts.visits],
        )
        await copy_rows(
            db,
            SCHEMA,
            "refunds",
            ["store_id", "purchase_id", "refund_id", "member_id", "amount", "occurred_at"],
            [(r.store_id, r.purchase_id, r.refund_id, m, r.amount, r.at) for m, r in facts.refunds],
        )
        await copy_rows(
            db,
            SCHEMA,
            "tier_moves",
            ["member_id", "sequence", "from_tier", "to_tier", "direction", "effective_at"],
            [
                (m, t.sequence, t.from_tier, t.to_tier, "down" if t.down else "up", t.at)
                for m, t in facts.tier_moves
            ],
        )
        await copy_rows(
            db,
            SCHEMA,
            "rewards_taken",
            ["redemption_id", "kind", "member_id", "points", "occurred_at"],
            [(r.redemption_id, kind, m, abs(r.points), r.at) for m, kind, r in facts.rewards],
        )

    async def latest_model(self) -> tuple[int, RiskModel] | None:
        db = await self._db()
        row = await db.fetchrow(_LATEST_MODEL)
        if row is None:
            return None
        params = json.loads(row[1]) if isinstance(row[1], str) else row[1]
        return row[0], RiskModel.from_dict(params)

    async def save_model(self, model: RiskModel) -> int:
        db = await self._db()
        assert model.fitted_as_of is not None
        version: int = await db.fetchval(
            _SAVE_MODEL, model.fitted_as_of, json.dumps(model.to_dict())
        )
        return version


def _add_visit(h: MemberHistory, row: Any) -> None:
    h.visits.append(Visit(row[1], row[2], Decimal(row[3]), row[4]))


def _add_refund(h: MemberHistory, row: Any) -> None:
    h.refunds.append(Refund(row[1], row[2], row[3], Decimal(row[4]), row[5]))


def _add_tier_move(h: MemberHistory, row: Any) -> None:
    h.tier_moves.append(TierMove(row[1], row[2], row[3], row[4], row[5] == "down"))


def _add_reward(h: MemberHistory, row: Any) -> None:
    points = row[4] if row[2] == "redeemed" else -row[4]
    h.rewards.append(RewardTaken(row[1], row[3], points))
