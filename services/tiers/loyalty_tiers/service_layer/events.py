"""The tier service's events: a tier change as `tiers.events` carries it."""

from __future__ import annotations

from loyalty_kernel.events.tiers import TierChanged
from loyalty_tiers.domain.standing import TierChange


def change_published(change: TierChange) -> TierChanged:
    return TierChanged(
        member_id=change.member_id,
        from_tier=change.from_tier,
        to_tier=change.to_tier,
        direction=change.direction.value,
        qualifying_spend=change.qualifying_spend,
        effective_at=change.effective_at,
        sequence=change.sequence,
        window_spend=change.window_spend,
        cause=change.cause.value,
        reference=change.reference,
    )
