"""A fresh, isolated churn watch fed the log up to the cutoff, scoring everyone as of it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

from loyalty_cli.backtest_log import SplitLog


async def replay_and_score(
    log: SplitLog,
    cutoff: datetime,
    horizon_days: int,
    database_url: str,
    bootstrap_servers: str,
    partitions: int,
) -> tuple[dict[str, float], dict[str, Any], float]:
    """Run a churn watch on the replayed log; its scores as of the cutoff."""
    from loyalty_churn.bootstrap import build
    from loyalty_churn.migrations import MIGRATIONS_DIR
    from loyalty_churn.service_layer.modelling import fit_and_store
    from loyalty_churn.service_layer.views import ranked_risk
    from loyalty_churn.settings import ChurnWatchSettings
    from loyalty_cli.replay import publish_events
    from loyalty_platform.kafka import ensure_topics
    from loyalty_platform.migrations import upgrade
    from loyalty_platform.settings import KafkaSettings, ProgrammeSettings

    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, database_url)
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap_servers,
        topic_partitions=partitions,
        topic_prefix=f"backtest-{uuid.uuid4().hex[:8]}.",
    )
    await ensure_topics(kafka, kafka.topics.all())
    base = ProgrammeSettings().load()
    programme = base.model_copy(
        update={"churn": base.churn.model_copy(update={"horizon_days": horizon_days})}
    )
    settings = ChurnWatchSettings(
        database_url=database_url,
        kafka=kafka,
        clock="event",
        consumer_group="backtest",
        batch_size=2000,
        programme=programme,
    )
    service = build(settings)
    started = time.monotonic()
    await service.start()
    try:
        sent = await publish_events(
            log.before, bootstrap_servers=bootstrap_servers, topic=kafka.topics.purchases, rate=None
        )
        await _until_applied(service, sent)
        elapsed = time.monotonic() - started
        version, model = await fit_and_store(service.uow, programme, cutoff)
        scorer = service.handler.scorer(model)
        ranked = await ranked_risk(service.uow, cutoff, scorer)
    finally:
        await service.stop()
    scores = {m.assessment.member_id: m.assessment.score for m in ranked}
    return scores, {"version": version, **model.to_dict()}, elapsed


async def _until_applied(service: Any, total: int, timeout: float = 3600) -> None:
    from sqlalchemy import func, select

    from loyalty_churn.adapters.orm import ConsumerProgressRow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with service.sessions() as session:
            applied = await session.scalar(
                select(func.sum(ConsumerProgressRow.next_offset)).where(
                    ConsumerProgressRow.topic == service.settings.kafka.topics.purchases
                )
            )
        if applied == total:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the churn watch applied {applied} of {total} events")
