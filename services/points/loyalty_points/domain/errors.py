"""Named reasons a purchase or refund cannot be applied to the ledger.

Each carries the machine-readable reason the dead-letter topic reports.
"""

from __future__ import annotations

from typing import ClassVar


class PointsRuleBroken(Exception):
    reason: ClassVar[str]


class WrongCurrency(PointsRuleBroken):
    reason = "wrong_currency"


class UnknownPurchase(PointsRuleBroken):
    reason = "unknown_purchase"


class RefundExceedsPurchase(PointsRuleBroken):
    reason = "refund_exceeds_purchase"


class RefundBeforePurchase(PointsRuleBroken):
    reason = "refund_before_purchase"


class MemberMismatch(PointsRuleBroken):
    reason = "member_mismatch"


class ConflictingDuplicate(PointsRuleBroken):
    """A purchase or refund id seen before, now with other facts."""

    reason = "conflicting_duplicate"
