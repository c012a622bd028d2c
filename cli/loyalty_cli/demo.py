"""After the demo or simulated traffic: some members spend points, through the rewards
service as their app would, so balances, lots and the ledger show points spent as
well as vested and expired."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

import httpx

from loyalty_cli.credentials import DevelopmentCredentials
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens

POINTS, REWARDS = "http://127.0.0.1:8001", "http://127.0.0.1:8003"
DEMO_REWARD = "coffee-coupon"


def spend_some(
    tokens: Mapping[str, str],
    wait_seconds: float = 120.0,
    transport: httpx.BaseTransport | None = None,
    poll_seconds: float = 1.0,
) -> list[str]:
    """Each member of `tokens` (member id -> their app's token) redeems the demo reward
    once their spendable points allow it; returns what happened to each, a line each."""
    done: list[str] = []
    deadline = time.monotonic() + wait_seconds
    with httpx.Client(timeout=10, transport=transport) as client:
        for member, token in tokens.items():
            done.append(_redeem_when_affordable(client, member, token, deadline, poll_seconds))
    return done


def app_tokens(credentials: DevelopmentCredentials, members: Sequence[str]) -> dict[str, str]:
    """A token for each member as their app would hold it, signed with the running
    platform's development secret."""
    tokens = MemberTokens(AccessSettings(LOYALTY_TOKEN_SECRET=credentials.token_secret))
    return {m: tokens.issue(m, lifetime=timedelta(hours=1)) for m in members}


def _redeem_when_affordable(
    client: httpx.Client, member: str, token: str, deadline: float, poll_seconds: float
) -> str:
    app = {"Authorization": f"Bearer {token}"}
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
        time.sleep(poll_seconds)
    return f"{member}: not enough spendable points for {DEMO_REWARD} yet"


def _cost(client: httpx.Client, headers: dict[str, str]) -> int | None:
    catalog = client.get(f"{REWARDS}/v1/rewards", headers=headers)
    if catalog.status_code != 200:
        return None
    rewards: Iterable[dict[str, object]] = catalog.json()["rewards"]
    found = next((r for r in rewards if r["reward_id"] == DEMO_REWARD), None)
    return int(str(found["points_cost"])) if found else None
