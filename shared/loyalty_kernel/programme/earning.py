"""Points earned by a purchase and taken back by its refunds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class EarningRule:
    points_per_unit: Decimal

    def points_for(self, amount: Decimal, multiplier: Decimal) -> int:
        """floor(amount x points per unit x tier multiplier)."""
        return int((amount * self.points_per_unit * multiplier).to_integral_value(ROUND_FLOOR))

    @staticmethod
    def clawback_total(earned: int, refunded_so_far: Decimal, purchase_amount: Decimal) -> int:
        """floor(earned x refunded so far / purchase amount), exact in integer cents."""
        refunded_cents = int(refunded_so_far * 100)
        amount_cents = int(purchase_amount * 100)
        return (earned * refunded_cents) // amount_cents
