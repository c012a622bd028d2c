"""Credentials for tests: keys issued into a test's database, member tokens signed with
the development secret the services verify with when no other is configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx

from loyalty_platform.access.credentials import REWARDS_SERVICE_SCOPES, SCOPES, Kind
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.startup import key_store_at
from loyalty_platform.access.tokens import MemberTokens

EVERY_SCOPE = frozenset(SCOPES)
SERVICE_SCOPES = REWARDS_SERVICE_SCOPES  # what the rewards service is issued


async def issue_key(
    database_url: str,
    kind: Kind = Kind.OPS,
    *,
    store_id: str | None = None,
    till_id: str | None = None,
    scopes: frozenset[str] | None = None,
    development: bool = False,
) -> str:
    """A new key's text. Ops and service keys get every scope unless told otherwise."""
    if scopes is None:
        scopes = frozenset() if kind is Kind.TILL else EVERY_SCOPE
    async with key_store_at(database_url) as keys:
        issued = await keys.issue(
            kind,
            store_id=store_id,
            till_id=till_id,
            scopes=scopes,
            label="test",
            development=development,
        )
    return issued.text


async def revoke_key(database_url: str, key: str) -> bool:
    async with key_store_at(database_url) as keys:
        return await keys.revoke(key.partition(".")[0])


def member_token(
    member_id: str,
    *,
    lifetime: timedelta = timedelta(hours=1),
    audience: str | None = None,
    settings: AccessSettings | None = None,
) -> str:
    return MemberTokens(settings or AccessSettings()).issue(
        member_id, lifetime=lifetime, audience=audience
    )


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def member_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class KeyByPath(httpx.Auth):
    """Sends the till's key to the till routes and the ops key everywhere else, unless
    the request carries credentials of its own."""

    TILL_PATHS = ("/v1/purchases", "/v1/refunds")

    def __init__(self, ops_key: str, till_key: str | None = None) -> None:
        self.ops_key, self.till_key = ops_key, till_key

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if "X-API-Key" not in request.headers and "Authorization" not in request.headers:
            till = self.till_key is not None and request.url.path in self.TILL_PATHS
            request.headers["X-API-Key"] = self.till_key if till else self.ops_key
        yield request


async def staff_auth(database_url: str, store_id: str = "store-17") -> KeyByPath:
    """An ops key with every scope, and a till key of `store_id`."""
    ops = await issue_key(database_url)
    till = await issue_key(database_url, Kind.TILL, store_id=store_id)
    return KeyByPath(ops, till)
