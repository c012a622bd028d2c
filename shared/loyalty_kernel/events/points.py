"""`points.events`: every movement of a member's points, one event per ledger entry."""

from __future__ import annotations

from datetime import datetime

from loyalty_kernel.events.envelope import CloudEvent, PublishedData, outgoing

POINTS_SOURCE = "loyalty/points"
POINTS_EARNED = "loyalty.points.earned.v1"
POINTS_CLAWED_BACK = "loyalty.points.clawed_back.v1"
POINTS_REDEEMED = "loyalty.points.redeemed.v1"
POINTS_RESTORED = "loyalty.points.restored.v1"
POINTS_ADJUSTED = "loyalty.points.adjusted.v1"
# The event type of each kind of ledger entry.
POINTS_EVENT_TYPES = {
    "earned": POINTS_EARNED,
    "clawed_back": POINTS_CLAWED_BACK,
    "redeemed": POINTS_REDEEMED,
    "restored": POINTS_RESTORED,
    "adjusted": POINTS_ADJUSTED,
}


class PointsMoved(PublishedData):
    """Clawed back, redeemed or restored."""

    member_id: str
    delta: int  # signed
    balance_after: int
    reference: str  # the purchase, refund, debit or adjustment id
    purchase_id: str | None
    store_id: str | None = None  # the purchase's store, with `purchase_id`


class PointsEarned(PointsMoved):
    tier: str  # the tier held just before the purchase, whose multiplier applied


class PointsAdjusted(PointsMoved):
    reason: str
    actor: str  # the id of the API key that made the adjustment


def points_event(kind: str, data: PointsMoved, at: datetime) -> CloudEvent:
    """The event of one ledger entry of `kind`; its id follows from the entry."""
    about: tuple[str, ...] = (data.reference,)
    if data.store_id is not None and data.purchase_id is not None:
        about = (data.store_id, data.purchase_id, data.reference)
    return outgoing(
        POINTS_EVENT_TYPES[kind],
        source=POINTS_SOURCE,
        id_parts=(kind, *about),
        time=at,
        subject=data.member_id,
        data=data,
    )
