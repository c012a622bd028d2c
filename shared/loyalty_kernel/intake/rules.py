"""When a purchase or refund can be applied, and the named reasons it cannot.

Every consumer of `purchases` keeps the same rules, so they agree on what counts;
each reason is the machine-readable one the dead-letter topic reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from loyalty_kernel.intake.commands import RecordPurchase, RecordRefund
from loyalty_kernel.intake.records import UNKNOWN_STORE
from loyalty_kernel.messages import RuleBroken


class PurchaseRuleBroken(RuleBroken):
    """A purchase or refund the programme's intake rules refuse."""


class WrongCurrency(PurchaseRuleBroken):
    reason = "wrong_currency"


class UnknownPurchase(PurchaseRuleBroken):
    reason = "unknown_purchase"


class AmbiguousPurchase(PurchaseRuleBroken):
    """A refund naming no store, of a purchase id more than one store has used."""

    reason = "ambiguous_purchase"


class RefundExceedsPurchase(PurchaseRuleBroken):
    reason = "refund_exceeds_purchase"


class RefundBeforePurchase(PurchaseRuleBroken):
    reason = "refund_before_purchase"


class MemberMismatch(PurchaseRuleBroken):
    reason = "member_mismatch"


class TimeInFuture(PurchaseRuleBroken):
    """Stamped further ahead of the receiving clock than the programme allows: a wrong
    till clock, or an attempt to move the platform's clocks."""

    reason = "time_in_future"


class ConflictingDuplicate(PurchaseRuleBroken):
    """A purchase (store and id) or refund seen before, now with other facts."""

    reason = "conflicting_duplicate"


class RefundablePurchase(Protocol):
    """What the refund rules need to know of a recorded purchase."""

    @property
    def purchase_id(self) -> str: ...
    @property
    def store_id(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def refunded(self) -> Decimal: ...

    def refund_amount(self, refund_id: str) -> Decimal | None:
        """The amount of an already recorded refund, None if it is new."""


P = TypeVar("P", bound=RefundablePurchase)


def check_not_in_future(at: datetime, now: datetime, allowance: timedelta) -> None:
    """A purchase or refund may be stamped at most `allowance` after `now`."""
    if at > now + allowance:
        raise TimeInFuture(
            f"stamped {at.isoformat()}, more than {allowance.total_seconds():.0f} s after "
            f"the receiving clock's {now.isoformat()}"
        )


def check_currency(currency: str, programme_currency: str) -> None:
    if currency != programme_currency:
        raise WrongCurrency(
            f"currency {currency} is not the programme currency {programme_currency}"
        )


def admit_purchase(
    cmd: RecordPurchase, known: RefundablePurchase | None, programme_currency: str
) -> bool:
    """True for a purchase to record, False for a redelivery of one already recorded."""
    check_currency(cmd.currency, programme_currency)
    if known is None:
        return True
    if (known.member_id, known.amount, known.occurred_at) != (
        cmd.member_id,
        cmd.amount,
        cmd.occurred_at,
    ):
        raise ConflictingDuplicate(
            f"purchase {cmd.purchase_id} of store {cmd.store_id} was recorded for "
            f"{known.member_id} with amount {known.amount} at {known.occurred_at.isoformat()}"
        )
    return False


def refunded_purchase(candidates: Iterable[P], cmd: RecordRefund) -> P | None:
    """The purchase a refund names, among `candidates` (any loaded purchases): the one
    of its store and id; without a store, the only one with its id. None if no such
    purchase is known."""
    found = [p for p in candidates if p.purchase_id == cmd.purchase_id]
    if cmd.store_id is not None:
        exact = next((p for p in found if p.store_id == cmd.store_id), None)
        if exact is not None:
            return exact
        found = [p for p in found if p.store_id == UNKNOWN_STORE]
    if len(found) > 1:
        stores = ", ".join(sorted(p.store_id for p in found))
        raise AmbiguousPurchase(
            f"purchase {cmd.purchase_id} was made at stores {stores}; the refund names none"
        )
    return found[0] if found else None


def admit_refund(cmd: RecordRefund, purchase: P | None, programme_currency: str) -> P | None:
    """The purchase the refund takes from; None for a redelivery of a recorded refund."""
    check_currency(cmd.currency, programme_currency)
    if purchase is None:
        at = f" of store {cmd.store_id}" if cmd.store_id is not None else ""
        raise UnknownPurchase(f"no purchase {cmd.purchase_id}{at} is known")
    if purchase.member_id != cmd.member_id:
        raise MemberMismatch(
            f"purchase {cmd.purchase_id} belongs to another member, not {cmd.member_id}"
        )
    if cmd.occurred_at < purchase.occurred_at:
        raise RefundBeforePurchase(
            f"refund at {cmd.occurred_at.isoformat()} precedes purchase {cmd.purchase_id}"
        )
    known = purchase.refund_amount(cmd.refund_id)
    if known is not None:
        if known != cmd.amount:
            raise ConflictingDuplicate(f"refund {cmd.refund_id} was recorded with amount {known}")
        return None
    remaining = purchase.amount - purchase.refunded
    if cmd.amount > remaining:
        raise RefundExceedsPurchase(
            f"refund of {cmd.amount} exceeds the {remaining} left of purchase {cmd.purchase_id}"
        )
    return purchase
