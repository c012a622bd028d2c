"""Idempotency keys, inside a unit of work's session: the request each stood for, and
the outcome it was first given, kept as its kind and its data in JSON so that a
replay is given the same outcome, also after a restart."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty_rewards.adapters.orm import IdempotencyRow
from loyalty_rewards.domain.outcomes import Redeemed, Refused, Settled
from loyalty_rewards.domain.redemption import Redemption, Status

REDEEMED, REFUSED = "redeemed", "refused"


@dataclass(frozen=True)
class StoredKey:
    member_id: str
    key: str
    request_hash: str
    redemption_id: str
    outcome: Settled | None  # None: not decided yet, or not answered for good


def dump_outcome(outcome: Settled) -> tuple[str, dict[str, Any]]:
    """The outcome's kind and data: a refusal's reason, or the redemption as it was."""
    if isinstance(outcome, Refused):
        return REFUSED, asdict(outcome)
    redemption = outcome.redemption
    snapshot = asdict(redemption) | {
        "status": redemption.status.value,
        "created_at": redemption.created_at.isoformat(),
    }
    return REDEEMED, snapshot


def load_outcome(kind: str, data: dict[str, Any]) -> Settled:
    if kind == REFUSED:
        return Refused(data["code"], data["message"], bool(data["missing"]))
    if kind != REDEEMED:
        raise ValueError(f"an idempotency key holds an unknown outcome: {kind}")
    redemption = Redemption(
        redemption_id=data["redemption_id"],
        member_id=data["member_id"],
        reward_id=data["reward_id"],
        points=int(data["points"]),
        status=Status(data["status"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        coupon_code=data.get("coupon_code"),
        failure=data.get("failure"),  # absent from keys answered before version 0002
    )
    return Redeemed(redemption)


def _stored(row: IdempotencyRow | None) -> StoredKey | None:
    if row is None:
        return None
    outcome = None
    if row.outcome_kind is not None and row.outcome is not None:
        outcome = load_outcome(row.outcome_kind, row.outcome)
    return StoredKey(row.member_id, row.key, row.request_hash, row.redemption_id, outcome)


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, member_id: str, key: str, request_hash: str, redemption_id: str) -> bool:
        """True if the key is new and now ours; False if it was claimed before."""
        values = {
            "member_id": member_id,
            "key": key,
            "request_hash": request_hash,
            "redemption_id": redemption_id,
        }
        statement = insert(IdempotencyRow).values(values).on_conflict_do_nothing()
        result: Any = await self._session.execute(statement)
        return bool(result.rowcount)

    async def get(self, member_id: str, key: str) -> StoredKey | None:
        return _stored(await self._session.get(IdempotencyRow, (member_id, key)))

    async def for_redemption(self, redemption_id: str) -> StoredKey | None:
        query = select(IdempotencyRow).where(IdempotencyRow.redemption_id == redemption_id)
        return _stored(await self._session.scalar(query))

    async def record(self, member_id: str, key: str, outcome: Settled) -> None:
        """Keep the outcome under the key, for every retry to be given."""
        kind, data = dump_outcome(outcome)
        await self._session.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.member_id == member_id, IdempotencyRow.key == key)
            .values(outcome_kind=kind, outcome=data)
        )
