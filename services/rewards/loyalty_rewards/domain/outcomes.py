"""What a redemption asked for, or its cancelling, comes to. The service layer returns
these; the API turns them into answers."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty_rewards.domain.redemption import Redemption, Status

# The points service's reasons for refusing a debit, as a member reads them.
REJECTIONS = {
    "insufficient_points": "not enough points for this reward",
    "negative_balance": "nothing can be redeemed while the balance is negative",
    "points_pending": "some of the points are still pending (the return window)",
}


@dataclass(frozen=True)
class Redeemed:
    """The redemption as it stood when first answered."""

    redemption: Redemption


@dataclass(frozen=True)
class Refused:
    """Not done, for the reason `code`; `missing`: what was asked for does not exist."""

    code: str
    message: str
    missing: bool = False


@dataclass(frozen=True)
class Pending:
    """The points service did not answer: the redemption waits as it stands, and is
    finished by a retry or in the background. Nothing is lost."""

    redemption: Redemption


@dataclass(frozen=True)
class Unavailable:
    """A service needed to decide did not answer; nothing was recorded."""

    message: str


@dataclass(frozen=True)
class Cancelled:
    """The redemption cancelled: its points and stock given back."""

    redemption: Redemption


# What an idempotency key keeps: the first outcome of a request that was decided.
Settled = Redeemed | Refused
# What finishing a redemption comes to: settled, or still waiting for the points service.
Finished = Redeemed | Refused | Pending


@dataclass(frozen=True)
class Replayed:
    """The answer to a request whose key was used before: the first request's outcome."""

    outcome: Finished


RedeemOutcome = Redeemed | Refused | Pending | Unavailable | Replayed
CancelOutcome = Cancelled | Refused | Pending


def settled(redemption: Redemption) -> Settled:
    """The outcome a redemption no longer pending answers with."""
    if redemption.status is Status.REJECTED:
        code = redemption.failure or "refused"
        return Refused(code, REJECTIONS.get(code, f"refused: {code}"))
    return Redeemed(redemption)
