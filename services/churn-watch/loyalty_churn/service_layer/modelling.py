"""Fitting the risk model from the whole membership's history, and storing it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from loyalty_churn.domain.risk import RiskModel, fit_risk_model
from loyalty_churn.service_layer.unit_of_work import ChurnUnitOfWork
from loyalty_kernel.programme import Programme


async def fit_and_store(
    uow: Callable[[], ChurnUnitOfWork], programme: Programme, as_of: datetime
) -> tuple[int, RiskModel]:
    """Fit on what was known as of `as_of` and make it the model in use."""
    async with uow() as u:
        histories = list((await u.watch.histories()).values())
    ranks = {level.name: i for i, level in enumerate(programme.tiers.levels)}
    # CPU-bound: off the event loop, so the API and the consumer stay responsive.
    model = await asyncio.to_thread(fit_risk_model, histories, as_of, programme.churn, ranks)
    async with uow() as u:
        version = await u.watch.save_model(model)
        await u.commit()
    return version, model
