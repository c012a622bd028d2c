"""The programme's versions as the points service earns by them: which one is in force
now, and every version's earning rules (apps show the promotions; ops check a change)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from loyalty_kernel.programme import Programme
from loyalty_kernel.programme.rules import EarningRuleSpec
from loyalty_platform.access import Allow
from loyalty_platform.http import ACCESS_ERRORS, running
from loyalty_points.bootstrap import PointsService

router = APIRouter(prefix="/v1", responses=ACCESS_ERRORS)
READ = Allow(member="any", scope="points:read")
Points = Annotated[PointsService, Depends(running(PointsService))]


class VersionOut(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    version: str
    effective_from: datetime | None  # null: since always (the first version)
    points_per_unit: Decimal
    rules: list[EarningRuleSpec]


class ProgrammeOut(BaseModel):
    name: str
    currency: str
    in_force: str  # the version that earns a purchase made now
    versions: list[VersionOut]  # earliest first


def programme_out(programme: Programme, now: datetime) -> ProgrammeOut:
    versions = [
        VersionOut(version=v.version, effective_from=v.effective_from,
                   points_per_unit=v.earning.points_per_unit, rules=list(v.earning.rules))
        for v in programme.versions
    ]  # fmt: skip
    return ProgrammeOut(name=programme.name, currency=programme.currency,
                        in_force=programme.version_at(now).version, versions=versions)  # fmt: skip


@router.get("/programme", response_model=ProgrammeOut, dependencies=[Depends(READ)])
async def get_programme(service: Points) -> ProgrammeOut:
    """The version of the programme in force now and every version with its
    `effective_from` and earning rules."""
    return programme_out(service.settings.programme, datetime.now(UTC))
