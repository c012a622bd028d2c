"""A purchase log cut at a date: the lines to replay, and each member's facts on both sides."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty_kernel.events.purchases import PURCHASE_COMPLETED, PURCHASE_REFUNDED


@dataclass
class Customer:
    """One member's purchases in the log, split at the cutoff."""

    days: list[datetime] = field(default_factory=list)  # purchase times up to the cutoff
    revenue: Decimal = Decimal(0)  # net spend in the horizon before the cutoff
    bought_after: bool = False  # a purchase in (cutoff, cutoff + horizon]


@dataclass(frozen=True)
class SplitLog:
    before: list[bytes]  # the lines to replay: every event up to the cutoff
    customers: dict[str, Customer]
    last_event: datetime | None
    unreadable: int = 0  # lines with no readable time, member or amount: left out


def split_log(lines: Iterable[bytes], cutoff: datetime, horizon: timedelta) -> SplitLog:
    """Read the log once: lines to replay, and each member's facts for the labels and
    for the baselines."""
    before: list[bytes] = []
    customers: dict[str, Customer] = {}
    refunds: list[tuple[str, datetime, Decimal]] = []
    last: datetime | None = None
    unreadable = 0
    for line in lines:
        try:
            event = json.loads(line)
            at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
            data = event.get("data") or {}
            member = data.get("member_id")
            if at.tzinfo is None or not isinstance(data, dict):
                raise ValueError("no time zone, or no data object")
            if event.get("type") in (PURCHASE_COMPLETED, PURCHASE_REFUNDED):
                Decimal(data["amount"])
        except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError):
            # The churn watch would dead-letter it too: it is no fact of either side.
            unreadable += 1
            continue
        last = max(last or at, at)
        if at <= cutoff:
            before.append(line)
        if member is None:
            continue
        if event.get("type") == PURCHASE_COMPLETED:
            customer = customers.setdefault(member, Customer())
            if at <= cutoff:
                customer.days.append(at)
                if at > cutoff - horizon:
                    customer.revenue += Decimal(data["amount"])
            elif at <= cutoff + horizon:
                customer.bought_after = True
        elif event.get("type") == PURCHASE_REFUNDED and cutoff - horizon < at <= cutoff:
            refunds.append((member, at, Decimal(data["amount"])))
    for member, _, amount in refunds:
        if member in customers:
            customers[member].revenue = max(customers[member].revenue - amount, Decimal(0))
    known = {m: c for m, c in customers.items() if c.days}
    return SplitLog(before, known, last, unreadable)
