"""Prometheus metrics every service exposes on `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """One registry per service instance, so several can live in one test process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.service = service
        labels = {"service": service}
        self.messages_applied = Counter(
            "loyalty_messages_applied",
            "Messages applied to the service's state",
            ["topic"],
            registry=self.registry,
        ).labels
        self.messages_skipped = Counter(
            "loyalty_messages_skipped",
            "Redelivered messages recognised and skipped",
            ["topic"],
            registry=self.registry,
        ).labels
        self.messages_ignored = Counter(
            "loyalty_messages_ignored",
            "Messages of a kind the service has no use for, or unreadable platform events",
            ["topic"],
            registry=self.registry,
        ).labels
        self.dead_letters = Counter(
            "loyalty_dead_letters",
            "Messages sent to the dead-letter topic",
            ["reason"],
            registry=self.registry,
        ).labels
        self.batch_seconds = Histogram(
            "loyalty_batch_seconds",
            "Time to apply and commit one consumed batch",
            registry=self.registry,
        )
        self.batch_retries = Counter(
            "loyalty_batch_retries",
            "Batches retried after a transient failure",
            registry=self.registry,
        )
        self.outbox_published = Counter(
            "loyalty_outbox_published",
            "Outbox rows the relay published and deleted",
            registry=self.registry,
        )
        self.outbox_parked = Counter(
            "loyalty_outbox_parked",
            "Outbox rows the broker cannot take, moved to outbox_parked",
            registry=self.registry,
        )
        self.security_events = Counter(
            "loyalty_security_events",
            "Security events, also logged by `loyalty.security` (over-limit auth failures, "
            "another store's purchase, another member's id, redemptions over the limit)",
            ["event"],
            registry=self.registry,
        ).labels
        self.auth_failures = Counter(
            "loyalty_auth_failures",
            "Requests refused for their credentials, by reason",
            ["reason"],
            registry=self.registry,
        ).labels
        self.info = Gauge(
            "loyalty_service_info",
            "Constant 1, labelled with the service name",
            list(labels),
            registry=self.registry,
        )
        self.info.labels(**labels).set(1)
