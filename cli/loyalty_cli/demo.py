"""After the demo traffic: the demo members spend some of their points, through the
rewards service as an app would, so balances, lots and the ledger show points spent
as well as vested and expired."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx

from loyalty_cli.credentials import DevelopmentCredentials

POINTS, REWARDS = "http://127.0.0.1:8001", "http://127.0.0.1:8003"
DEMO_REWARD = "coffee-coupon"


def spend_some(credentials: DevelopmentCredentials, wait_seconds: float = 120.0) -> list[str]:
    """Each demo member redeems the demo reward once their spendable points allow it;
    returns what happened to each, a line each."""
    done: list[str] = []
    deadline = time.monotonic() + wait_seconds
    for member, token in credentials.member_tokens.items():
        done.append(_redeem_when_affordable(member, token, deadline))
    return done


def _redeem_when_affordable(member: str, token: str, deadline: float) -> str:
    app = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as client:
        cost = _cost(client, app)
        while time.monotonic() < deadline:
            balance = client.get(f"{POINTS}/v1/members/{member}/balance", headers=app)
            ok = balance.status_code == 200 and cost is not None
            if ok and balance.json()["available"] >= (cost or 0):
                answer = client.post(
                    f"{REWARDS}/v1/members/{member}/redemptions",
                    json={"reward_id": DEMO_REWARD},
                    headers=app | {"Idempotency-Key": f"demo-{member}"},
                )
                return f"{member}: {DEMO_REWARD} redeemed ({answer.status_code})"
            time.sleep(1)
    return f"{member}: not enough spendable points for {DEMO_REWARD} yet"


def _cost(client: httpx.Client, headers: dict[str, str]) -> int | None:
    catalog = client.get(f"{REWARDS}/v1/rewards", headers=headers)
    if catalog.status_code != 200:
        return None
    rewards: Iterable[dict[str, object]] = catalog.json()["rewards"]
    found = next((r for r in rewards if r["reward_id"] == DEMO_REWARD), None)
    return int(str(found["points_cost"])) if found else None
