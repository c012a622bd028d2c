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
POINTS_VESTED = "loyalty.points.vested.v1"
POINTS_EXPIRING_SOON = "loyalty.points.expiring_soon.v1"
POINTS_EXPIRED = "loyalty.points.expired.v1"
# The event type of each kind of ledger entry.
POINTS_EVENT_TYPES = {
    "earned": POINTS_EARNED,
    "clawed_back": POINTS_CLAWED_BACK,
    "redeemed": POINTS_REDEEMED,
    "restored": POINTS_RESTORED,
    "adjusted": POINTS_ADJUSTED,
    "vested": POINTS_VESTED,
    "expiring_soon": POINTS_EXPIRING_SOON,
    "expired": POINTS_EXPIRED,
}


class LotMoved(PublishedData):
    lot_id: str
    points: int  # put into (+) or taken out of (-) the lot


class PointsMoved(PublishedData):
    """Clawed back, redeemed or restored."""

    member_id: str
    delta: int  # signed: the change of the balance (0 for a vesting or a warning)
    balance_after: int  # spendable plus pending
    available_after: int  # spendable; below zero while the member owes points
    reference: str  # the purchase, refund, debit or adjustment id; the lot's for its moments
    purchase_id: str | None
    store_id: str | None = None  # the purchase's store, with `purchase_id`
    lots: list[LotMoved] = []  # the lots the entry touched


class PointsEarned(PointsMoved):
    tier: str  # the tier held just before the purchase, whose multiplier applied
    lot_id: str
    vests_at: datetime  # pending until then
    expires_at: datetime | None  # None: the programme's points never expire
    programme_version: str  # the version of the programme in force at the purchase
    rules: list[str] = []  # the earning rules that changed what it earned


class LotMoment(PointsMoved):
    """A lot vested, is about to expire, or expired: `points` is what vested, what will
    expire at `expires_at` unless spent, or what expired."""

    lot_id: str
    points: int
    vests_at: datetime
    expires_at: datetime | None


class PointsAdjusted(PointsMoved):
    reason: str
    actor: str  # the id of the API key that made the adjustment


def points_event_id_parts(
    kind: str, reference: str, store_id: str | None, purchase_id: str | None
) -> tuple[str, ...]:
    """What the id of one ledger entry's event follows from."""
    if store_id is not None and purchase_id is not None:
        return (kind, store_id, purchase_id, reference)
    return (kind, reference)


def points_event(kind: str, data: PointsMoved, at: datetime) -> CloudEvent:
    """The event of one ledger entry of `kind`; its id follows from the entry."""
    return outgoing(
        POINTS_EVENT_TYPES[kind],
        source=POINTS_SOURCE,
        id_parts=points_event_id_parts(kind, data.reference, data.store_id, data.purchase_id),
        time=at,
        subject=data.member_id,
        data=data,
    )
