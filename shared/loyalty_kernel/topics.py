"""The topics of the event contract."""

from __future__ import annotations

from pydantic import BaseModel


class TopicNames(BaseModel):
    """The contract's topic names; tests give each run its own."""

    purchases: str = "purchases"
    purchases_dlq: str = "purchases.dlq"
    points_events: str = "points.events"
    tiers_events: str = "tiers.events"
    rewards_events: str = "rewards.events"
    churn_alerts: str = "churn.alerts"

    def all(self) -> list[str]:
        return list(self.model_dump().values())

    def prefixed(self, prefix: str) -> TopicNames:
        return TopicNames(**{name: prefix + value for name, value in self})
