"""What losing a member costs: V = Ct + (Vk - Vt) (docs/churn-watch.md).

- Ct, what was spent on the member: the points they redeemed, at what a point cost.
- Vk - Vt, the lifetime value not yet realised: the spend the member would still
  bring if they stayed for `value_years`, at their own expected purchase rate (the
  lifetime model's estimate, which leans on the whole membership while the member's
  own history is short) times their average net basket.
Losing the member loses both: the rewards paid out earn nothing back, and the future
spend does not come.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from loyalty_churn.domain.behaviour import Behaviour
from loyalty_kernel.programme import ChurnSettings

CENT = Decimal("0.01")
DAYS_PER_YEAR = Decimal("365.25")


def value_at_risk(b: Behaviour, purchases_per_day: float, rules: ChurnSettings) -> Decimal:
    spent_on_member = b.points_redeemed * rules.point_value
    future_purchases = Decimal(str(round(purchases_per_day, 9))) * DAYS_PER_YEAR * rules.value_years
    unrealised = future_purchases * b.average_basket
    return (spent_on_member + unrealised).quantize(CENT, ROUND_HALF_EVEN)
