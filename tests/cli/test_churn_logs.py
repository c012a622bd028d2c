"""The synthetic churn log: deterministic, in time order, valid for the intake."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from loyalty_cli.churn_logs import synthetic_churn_log
from loyalty_shared.intake import RecordPurchase, RecordRefund, translate
from loyalty_shared.messages import InboundMessage

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_same_seed_gives_the_same_log_in_time_order_and_every_event_is_valid() -> None:
    log = list(synthetic_churn_log(300, START, 730, seed=3))
    assert [e.to_bytes() for e in log] == [
        e.to_bytes() for e in synthetic_churn_log(300, START, 730, seed=3)
    ]
    assert log != list(synthetic_churn_log(300, START, 730, seed=4))
    assert [e.time for e in log] == sorted(e.time for e in log)
    bought: dict[str, Decimal] = {}
    refunded: dict[str, Decimal] = {}
    for n, event in enumerate(log):
        message = InboundMessage("purchases", 0, n, event.subject.encode(), event.to_bytes(), 0)
        command = translate(message)
        assert isinstance(command, RecordPurchase | RecordRefund), command
        if isinstance(command, RecordPurchase):
            bought[command.purchase_id] = command.amount
        else:
            refunded[command.purchase_id] = (
                refunded.get(command.purchase_id, Decimal(0)) + command.amount
            )
            assert refunded[command.purchase_id] <= bought[command.purchase_id]
    members = {e.subject for e in log}
    assert len(members) == 300
    assert refunded  # the log has returns
