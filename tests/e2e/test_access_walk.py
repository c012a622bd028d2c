"""Every route of every service, walked with every wrong credential: each is refused as
the access rules say (401, 403, or 404 for another member's id), no refused answer
carries data, and nothing changes. Then the right credential gets through everywhere.

The routes are read from the apps themselves, so a route added later without a rule
fails here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from loyalty_churn.entrypoints.app import create_app as churn_app
from loyalty_churn.migrations import MIGRATIONS_DIR as CHURN_MIGRATIONS
from loyalty_kernel.intake.translation import translate_purchase
from loyalty_kernel.messages import InboundMessage
from loyalty_platform.access import AccessSettings, Allow, Kind
from loyalty_platform.http import every_route
from loyalty_platform.migrations import upgrade
from loyalty_points.entrypoints.app import create_app as points_app
from loyalty_rewards.entrypoints.app import create_app as rewards_app
from loyalty_tiers.entrypoints.app import create_app as tiers_app
from tests.support.access import (
    SERVICE_SCOPES,
    issue_key,
    key_header,
    member_header,
    member_token,
    revoke_key,
)
from tests.support.churn import churn_settings
from tests.support.events import encode, purchase
from tests.support.kafka import read_topic
from tests.support.points import points_settings
from tests.support.rewards import rewards_settings
from tests.support.tiers import tiers_settings

VICTIM, ATTACKER = "m-victim", "m-attacker"
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
          "/redoc"}  # fmt: skip
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# The walk fails authentication hundreds of times from one client: no limit in its way
# (the limit has tests of its own).
WALK = AccessSettings(ACCESS_FAILED_AUTH_LIMIT=1_000_000)


@dataclass
class Platform:
    apps: dict[str, FastAPI]
    clients: dict[str, httpx.AsyncClient]
    database_url: str


@pytest.fixture
async def platform(platform_database: str, kafka) -> AsyncIterator[Platform]:
    db = platform_database
    await asyncio.to_thread(upgrade, CHURN_MIGRATIONS, db)
    service_key = await issue_key(db, Kind.SERVICE, scopes=SERVICE_SCOPES)
    async with AsyncExitStack() as stack:
        apps: dict[str, FastAPI] = {
            "points": points_app(points_settings(db, kafka, access=WALK), consume=False),
            "tiers": tiers_app(tiers_settings(db, kafka, access=WALK), consume=False),
            "churn-watch": churn_app(churn_settings(db, kafka, access=WALK), consume=False),
        }
        apps["rewards"] = rewards_app(
            rewards_settings(db, kafka, service_key=service_key, access=WALK),
            points_transport=httpx.ASGITransport(app=apps["points"]),
            tiers_transport=httpx.ASGITransport(app=apps["tiers"]),
        )
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
        await _victim_has_points(apps["points"])
        yield Platform(apps, clients, db)


async def _victim_has_points(points: FastAPI) -> None:
    event = purchase(VICTIM, "p-victim", "4321.00", AT)
    message = InboundMessage("purchases", 0, 0, VICTIM.encode(), encode(event), 0, "log")
    await points.state.service.handler.apply([translate_purchase(message)])


def rule_of(route: APIRoute) -> Allow:
    rules = [d.call for d in route.dependant.dependencies if isinstance(d.call, Allow)]
    assert len(rules) == 1, f"{route.path} has {len(rules)} access rules"
    return rules[0]


def guarded_routes(app: FastAPI) -> list[tuple[str, APIRoute, Allow]]:
    found = []
    for route in every_route(app.routes):
        if route.path in PUBLIC:
            continue
        assert isinstance(route, APIRoute), route.path
        assert route.path.startswith("/v1/"), route.path
        found.extend((method, route, rule_of(route)) for method in sorted(route.methods))
    return found


def names_member(route: APIRoute) -> bool:
    params = route.dependant.path_params + route.dependant.query_params
    return any(p.name == "member_id" for p in params)


REQUESTS: dict[str, dict[str, Any]] = {
    "/v1/purchases": {"json": {
        "purchase_id": "p-walk", "member_id": VICTIM, "store_id": "store-17", "amount": "10.00",
        "currency": "USD", "occurred_at": AT.isoformat()}},
    "/v1/refunds": {"json": {
        "refund_id": "r-walk", "purchase_id": "p-victim", "member_id": VICTIM,
        "amount": "1.00", "currency": "USD", "occurred_at": AT.isoformat()}},
    "/v1/members/{member_id}/debits": {"json": {
        "debit_id": "d-walk", "points": 1, "reference": "walk"}},
    "/v1/members/{member_id}/adjustments": {"json": {
        "adjustment_id": "a-walk", "points": 5, "reason": "walk"}},
    "/v1/members/{member_id}/redemptions": {"json": {"reward_id": "coffee-coupon"},
                                            "headers": {"Idempotency-Key": "walk"}},
    "/v1/admin/rewards": {"json": {
        "reward_id": "walk", "name": "walk", "kind": "physical", "points_cost": 1}},
    "/v1/admin/rewards/{reward_id}": {"json": {"name": "walked"}},
    "/v1/admin/rewards/{reward_id}/restock": {"json": {"quantity": 1}},
    "/v1/tiers/report": {"params": {"from": AT.isoformat(),
                                    "to": (AT + timedelta(days=1)).isoformat()}},
}  # fmt: skip


def request_for(route: APIRoute, member: str = VICTIM) -> tuple[str, dict[str, Any]]:
    path = route.path.format(
        member_id=member, reward_id="coffee-coupon", redemption_id="rd-" + "0" * 32,
        debit_id="d-walk", alert_id=1,
    )  # fmt: skip
    options = {k: dict(v) for k, v in REQUESTS.get(route.path, {}).items()}
    if any(p.name == "member_id" for p in route.dependant.query_params):
        options.setdefault("params", {})["member_id"] = member
    return path, options


async def send(client: httpx.AsyncClient, method: str, route: APIRoute,
               credentials: dict[str, str]) -> httpx.Response:  # fmt: skip
    path, options = request_for(route)
    headers = {**options.pop("headers", {}), **credentials}
    return await client.request(method, path, headers=headers, **options)


def refused_without_leaking(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, (what, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, (what, body)
    assert VICTIM not in response.text, (what, response.text)
    assert "4321" not in response.text, (what, response.text)


async def test_every_route_refuses_every_wrong_credential(platform: Platform, kafka) -> None:
    db = platform.database_url
    revoked = await issue_key(db)
    await revoke_key(db, revoked)
    wrong_everywhere = {
        "no credentials": {},
        "an expired token": member_header(member_token(VICTIM, lifetime=timedelta(hours=-1))),
        "a token for another audience": member_header(member_token(VICTIM, audience="other-app")),
        "a token signed with another secret": member_header(
            member_token(VICTIM, settings=_other_secret())
        ),
        "a revoked key": key_header(revoked),
        "a made-up key": key_header("ops_0123456789abcdef." + "x" * 43),
    }
    other_store_till = key_header(await issue_key(db, Kind.TILL, store_id="store-99"))
    attacker = member_header(member_token(ATTACKER))
    walked = 0
    for service, app in platform.apps.items():
        client = platform.clients[service]
        for method, route, rule in guarded_routes(app):
            what = f"{service} {method} {route.path}"
            for label, credentials in wrong_everywhere.items():
                response = await send(client, method, route, credentials)
                refused_without_leaking(response, 401, f"{what} with {label}")
            # Another store's till: refused on till routes (the purchase's store is not
            # its own; another store's purchase is as unknown to it as none) and
            # everywhere else (a till only posts).
            response = await send(client, method, route, other_store_till)
            expected = 404 if route.path == "/v1/refunds" else 403
            refused_without_leaking(response, expected, f"{what} with another store's key")
            # Another member's token.
            response = await send(client, method, route, attacker)
            if rule.member == "own" and names_member(route):
                refused_without_leaking(response, 404, f"{what} with another member's token")
            elif rule.member is None:
                refused_without_leaking(response, 403, f"{what} with a member token")
            # The wrong kind of key: an ops key whose scope is not the route's.
            wrong_scope = "points:read" if rule.scope != "points:read" else "churn:read"
            ops = key_header(await issue_key(db, scopes=frozenset({wrong_scope})))
            refused_without_leaking(await send(client, method, route, ops), 403,
                                    f"{what} with an ops key without its scope")  # fmt: skip
            if not rule.till:
                till = key_header(await issue_key(db, Kind.TILL, store_id="store-17"))
                refused_without_leaking(await send(client, method, route, till), 403,
                                        f"{what} with a till key")  # fmt: skip
            walked += 1
    assert walked >= 20

    # Nothing changed: no purchase or refund reached the topic, the victim's points are
    # whole, nothing was redeemed.
    assert await read_topic(kafka, kafka.topics.purchases, expect=1, timeout=2) == []
    ops = key_header(await issue_key(db))
    balance = await platform.clients["points"].get(f"/v1/members/{VICTIM}/balance", headers=ops)
    assert balance.json()["balance"] == 4321
    ledger = await platform.clients["points"].get(f"/v1/members/{VICTIM}/ledger", headers=ops)
    assert len(ledger.json()["entries"]) == 1
    redeemed = await platform.clients["rewards"].get(
        f"/v1/members/{VICTIM}/redemptions", headers=ops
    )
    assert redeemed.json() == []


async def test_the_right_credential_gets_through_every_route(platform: Platform) -> None:
    db = platform.database_url
    ops = key_header(await issue_key(db))
    till = key_header(await issue_key(db, Kind.TILL, store_id="store-17"))
    victim = member_header(member_token(VICTIM))
    for service, app in platform.apps.items():
        client = platform.clients[service]
        for method, route, rule in guarded_routes(app):
            right = [till] if rule.till else [ops]
            if rule.member is not None:
                right.append(victim)
            for credentials in right:
                response = await send(client, method, route, credentials)
                assert response.status_code not in (401, 403, 429), (
                    f"{service} {method} {route.path}",
                    response.text,
                )


def _other_secret() -> AccessSettings:
    return AccessSettings(LOYALTY_TOKEN_SECRET="another-secret-that-is-long-enough-to-sign")


async def test_no_body_takes_a_field_it_does_not_declare(platform: Platform) -> None:
    """Mass assignment: balance, tier or points can never ride along in a request."""
    db = platform.database_url
    ops = key_header(await issue_key(db))
    till = key_header(await issue_key(db, Kind.TILL, store_id="store-17"))
    bodies = 0
    for service, app in platform.apps.items():
        client = platform.clients[service]
        for method, route, rule in guarded_routes(app):
            if route.body_field is None:
                continue
            path, options = request_for(route)
            options["json"] = {**options["json"], "balance": 10**9, "tier": "diamond"}
            headers = {**options.pop("headers", {}), **(till if rule.till else ops)}
            response = await client.request(method, path, headers=headers, **options)
            assert response.status_code == 422, (service, method, route.path, response.text)
            fields = {d["field"] for d in response.json()["error"]["details"]}
            assert {"body.balance", "body.tier"} <= fields, (route.path, fields)
            bodies += 1
    assert bodies >= 8


async def test_a_wrong_method_names_every_method_the_path_takes(platform: Platform) -> None:
    churn, points = platform.clients["churn-watch"], platform.clients["points"]
    model = await churn.request("DELETE", "/v1/churn/model")
    purchases = await points.request("PUT", "/v1/purchases")
    assert (model.status_code, model.headers["Allow"]) == (405, "GET, POST")
    assert (purchases.status_code, purchases.headers["Allow"]) == (405, "POST")
    assert model.json()["error"]["code"] == "method_not_allowed"
