"""The catalog admin API: rewards added, changed, deactivated and restocked by ops.
The service layer's errors become answers here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from loyalty_kernel.events.envelope import ID_PATTERN
from loyalty_platform.access import Allow
from loyalty_platform.http import ACCESS_ERRORS, ApiError, error_responses
from loyalty_rewards.domain.catalog import StockLimit, StockNotCounted
from loyalty_rewards.entrypoints.dependencies import RewardsDep
from loyalty_rewards.entrypoints.schemas import (
    Restock,
    RewardIn,
    RewardOut,
    RewardPatch,
    invalid_fields,
    reward_out,
)
from loyalty_rewards.service_layer.cataloguing import (
    InvalidChange,
    RewardExists,
    UnknownReward,
    UnknownTier,
)

router = APIRouter(prefix="/v1/admin", responses=ACCESS_ERRORS)
ADMIN = Allow(scope="catalog:admin")
RewardId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.post(
    "/rewards",
    status_code=201,
    response_model=RewardOut,
    responses=error_responses(409),
    dependencies=[Depends(ADMIN)],
)
async def create_reward(body: RewardIn, service: RewardsDep) -> RewardOut:
    with _refusals():
        created = await service.cataloguing.add(body.to_reward())
    return RewardOut(**reward_out(created))


@router.patch(
    "/rewards/{reward_id}",
    response_model=RewardOut,
    responses=error_responses(404),
    dependencies=[Depends(ADMIN)],
)
async def update_reward(reward_id: RewardId, body: RewardPatch, service: RewardsDep) -> RewardOut:
    with _refusals():
        changed = await service.cataloguing.change(reward_id, body.changes(), check=invalid_fields)
    return RewardOut(**reward_out(changed))


@router.post(
    "/rewards/{reward_id}/deactivate",
    response_model=RewardOut,
    responses=error_responses(404),
    dependencies=[Depends(ADMIN)],
)
async def deactivate_reward(reward_id: RewardId, service: RewardsDep) -> RewardOut:
    with _refusals():
        changed = await service.cataloguing.deactivate(reward_id)
    return RewardOut(**reward_out(changed))


@router.post(
    "/rewards/{reward_id}/restock",
    response_model=RewardOut,
    responses=error_responses(404, 409),
    dependencies=[Depends(ADMIN)],
)
async def restock_reward(reward_id: RewardId, body: Restock, service: RewardsDep) -> RewardOut:
    with _refusals():
        changed = await service.cataloguing.restock(reward_id, body.quantity)
    return RewardOut(**reward_out(changed))


@contextmanager
def _refusals() -> Iterator[None]:
    """The catalog's refusals, as the API answers them."""
    try:
        yield
    except UnknownReward as exc:
        raise ApiError(404, "unknown_reward", str(exc)) from exc
    except RewardExists as exc:
        raise ApiError(409, "reward_exists", str(exc)) from exc
    except StockNotCounted as exc:
        raise ApiError(409, "stock_not_counted", str(exc)) from exc
    except StockLimit as exc:
        raise ApiError(409, "stock_limit", str(exc)) from exc
    except InvalidChange as exc:
        problems = [{"field": p.field, "problem": p.problem} for p in exc.problems]
        raise ApiError(422, "invalid_reward", str(exc), problems) from exc
    except UnknownTier as exc:
        problem = {"field": "body.min_tier", "problem": "not a tier of the programme"}
        raise ApiError(422, "unknown_tier", str(exc), [problem]) from exc
