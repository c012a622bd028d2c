"""The tier REST API: a member's tier for apps, the tier table and report for ops."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from loyalty_platform.access import Allow
from loyalty_platform.http import ACCESS_ERRORS, ApiError, MemberId, Moment, running
from loyalty_tiers.bootstrap import TiersService
from loyalty_tiers.entrypoints.schemas import (
    KeepTier,
    MemberTierOut,
    NextTier,
    TierDefinitionOut,
    TierMovementOut,
    TierReportOut,
    TierRetentionOut,
    TierTableOut,
)
from loyalty_tiers.service_layer import views

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
MEMBER_TIER = Allow(member="own", scope="tiers:read")
TIER_TABLE = Allow(member="any", scope="tiers:read")  # the programme, for every app
REPORT = Allow(scope="tiers:read")
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No purchase of the member's has reached the tier service"}
}


Tiers = Annotated[TiersService, Depends(running(TiersService))]


@router.get(
    "/members/{member_id}/tier",
    response_model=MemberTierOut,
    responses=NOT_FOUND,
    dependencies=[Depends(MEMBER_TIER)],
)
async def get_member_tier(member_id: MemberId, service: Tiers) -> MemberTierOut:
    async with service.sessions() as session:
        found = await views.member_outlook(
            session,
            member_id,
            service.policy,
            service.wall_clock,
            service.settings.programme.currency,
        )
    if found is None:
        raise ApiError(404, "unknown_member", f"member {member_id} has no tier yet")
    settings = service.settings.programme.tiers
    return MemberTierOut(
        member_id=member_id,
        as_of=found.as_of,
        tier=found.tier.name,
        multiplier=found.tier.multiplier,
        since=found.since,
        qualifying_spend=found.window_spend,
        best_spend_in_hold=found.qualifying_spend,
        window_days=settings.window_days,
        drops_at=found.drops_at,
        next=None
        if found.next_tier is None or found.spend_to_next is None
        else NextTier(tier=found.next_tier.name, spend_needed=found.spend_to_next),
        keep=None
        if found.drops_at is None or found.drops_to is None or found.spend_to_keep is None
        else KeepTier(
            spend_needed=found.spend_to_keep,
            before=found.drops_at,
            otherwise_drops_to=found.drops_to.name,
        ),
    )


@router.get("/tiers", response_model=TierTableOut, dependencies=[Depends(TIER_TABLE)])
async def get_tiers(service: Tiers) -> TierTableOut:
    """The programme's tiers, lowest first, with how many members hold each."""
    async with service.sessions() as session:
        counts = await views.tier_counts(session)
    programme = service.settings.programme
    return TierTableOut(
        window_days=programme.tiers.window_days,
        hold_days=programme.tiers.hold_days,
        currency=programme.currency,
        tiers=[
            TierDefinitionOut(
                name=level.name,
                threshold=level.threshold,
                multiplier=level.multiplier,
                members=counts[level.name],
            )
            for level in programme.tiers.levels
        ],
    )


@router.get("/tiers/report", response_model=TierReportOut, dependencies=[Depends(REPORT)])
async def get_tier_report(
    service: Tiers,
    start: Annotated[Moment, Query(alias="from", description="RFC 3339, with a zone")],
    end: Annotated[Moment, Query(alias="to", description="RFC 3339, with a zone")],
) -> TierReportOut:
    """Tier distribution at both ends of (from, to], the moves between tiers in it,
    and per tier the share of members still there at the end."""
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise ApiError(422, "invalid_time", f"{name} must carry a time zone")
    if end <= start:
        raise ApiError(422, "invalid_period", "to must be after from")
    async with service.sessions() as session:
        report = await views.tier_report(session, start, end, service.policy)
    return TierReportOut(
        start=start,
        end=end,
        tiers=[
            TierRetentionOut(
                tier=level.name,
                members_at_start=report.at_start[level.name],
                members_at_end=report.at_end[level.name],
                retained=report.retained[level.name],
                retention=report.retention(level.name),
            )
            for level in service.policy.levels
        ],
        upgrades=sum(m.changes for m in report.movements if m.direction == "up"),
        downgrades=sum(m.changes for m in report.movements if m.direction == "down"),
        movements=[TierMovementOut(**vars(m)) for m in report.movements],
    )
