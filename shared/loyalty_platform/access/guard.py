"""The HTTP side of access control: who is calling, and whether a route lets them.

Each route names its `Allow` rule. Refusals follow one pattern everywhere:
- no credentials, or ones that do not verify (unknown, revoked, expired, wrong
  audience): 401;
- a verified caller of a kind or scope the route does not admit: 403;
- a member token on a path or query naming another member: 404, the same answer as
  for a member that does not exist, so a token cannot probe who else is a member;
- a client that keeps failing to authenticate: 429 with `Retry-After`, before any
  check, until its window has passed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from loyalty_platform.access.credentials import (
    Caller,
    KeyHolder,
    Kind,
    MemberCaller,
    PresentedKey,
    read_key,
)
from loyalty_platform.access.keystore import KeyStore
from loyalty_platform.access.limits import SlidingWindow
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens, TokenRefused
from loyalty_platform.http import ApiError

security_log = logging.getLogger("loyalty.security")

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A till's, an ops team's or a service's API key: `<key_id>.<secret>`",
)
MEMBER_TOKEN = HTTPBearer(
    auto_error=False, description="A member's token (JWT, `sub` = member id), from the app"
)


PRESENTED_KEY = Security(API_KEY)
PRESENTED_TOKEN = Security(MEMBER_TOKEN)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "not found")


def unauthenticated() -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        "credentials are missing, invalid, expired or revoked",
        headers={"WWW-Authenticate": 'Bearer realm="loyalty"'},
    )


def forbidden(message: str = "") -> ApiError:
    return ApiError(403, "forbidden", message or "these credentials may not do this")


def too_many(retry_after: int, message: str) -> ApiError:
    return ApiError(429, "rate_limited", message, headers={"Retry-After": str(retry_after)})


class SecurityEvents:
    """Security events: counted in `/metrics` and logged as one JSON object per line."""

    def __init__(self, service: str, count: Callable[[str], Any]) -> None:
        self._service = service
        self._count = count

    def record(self, event: str, request: Request, **facts: Any) -> None:
        self._count(event).inc()
        entry = {
            "security_event": event,
            "service": self._service,
            "client": client_address(request),
            "method": request.method,
            "path": request.url.path,
            **facts,
        }
        security_log.warning(json.dumps(entry, sort_keys=True, default=str))


def client_address(request: Request) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers so this is the real client.
    return request.client.host if request.client else "unknown"


class Gate:
    """Verifies credentials and keeps the failed-authentication counts of a service."""

    def __init__(
        self,
        settings: AccessSettings,
        keys: KeyStore,
        events: SecurityEvents,
        count_failure: Callable[[str], Any],
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.tokens = MemberTokens(settings)
        self.events = events
        self._count_failure = count_failure
        self.failures = SlidingWindow(
            settings.failed_auth_limit, settings.failed_auth_window_seconds
        )

    async def caller(self, request: Request, api_key: str | None, token: str | None) -> Caller:
        presented = read_key(api_key) if api_key is not None else None
        client = _failure_subject(client_address(request), presented)
        wait = self.failures.retry_after(client)
        if wait is not None:
            self._count_failure("rate_limited").inc()
            raise too_many(wait, "too many failed authentications; try again later")
        found, reason = await self._verify(api_key, presented, token)
        if found is None:
            self._failed(request, client, reason)
            raise unauthenticated()
        return found

    async def _verify(
        self, api_key: str | None, presented: PresentedKey | None, token: str | None
    ) -> tuple[Caller | None, str]:
        if api_key is not None and token is not None:
            return None, "two_credentials"
        if api_key is not None:
            if presented is None:
                return None, "key_malformed"
            holder = await self.keys.holder(presented)
            return holder, "key_unknown_or_revoked"
        if token is not None:
            try:
                return MemberCaller(self.tokens.member(token)), ""
            except TokenRefused as refused:
                return None, refused.reason
        return None, "no_credentials"

    def _failed(self, request: Request, client: str, reason: str) -> None:
        self._count_failure(reason).inc()
        if self.failures.record(client):
            self.events.record(
                "auth_failures_over_limit",
                request,
                limit=self.failures.limit,
                window_seconds=self.failures.seconds,
                last_reason=reason,
            )


def _failure_subject(address: str, presented: PresentedKey | None) -> str:
    """Whose failures count together: one address and one key id. A till failing behind
    a store's NAT locks out neither the other tills there nor its own key elsewhere."""
    return f"{address} {presented.key_id if presented is not None else '-'}"


def gate_of(request: Request) -> Gate:
    return request.app.state.gate  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Allow:
    """A route's access rule, used as its dependency; it answers with the caller.

    member: "own" admits member tokens for their own member id (the path's or query's
    `member_id`), "any" admits every member token. scope: ops and service keys that
    carry it. till: till keys (the route then checks the store).
    """

    scope: str | None = None
    member: Literal["own", "any"] | None = None
    till: bool = False

    async def __call__(
        self,
        request: Request,
        api_key: str | None = PRESENTED_KEY,
        bearer: HTTPAuthorizationCredentials | None = PRESENTED_TOKEN,
    ) -> Caller:
        gate = gate_of(request)
        caller = await gate.caller(request, api_key, bearer.credentials if bearer else None)
        if isinstance(caller, MemberCaller):
            return self._member(request, gate, caller)
        if caller.kind is Kind.TILL:
            if not self.till:
                raise forbidden("a till's key only posts purchases and refunds")
            return caller
        if self.scope is None or not caller.may(self.scope):
            raise forbidden(f"this key lacks the scope {self.scope}" if self.scope else "")
        return caller

    def _member(self, request: Request, gate: Gate, caller: MemberCaller) -> MemberCaller:
        if self.member is None:
            raise forbidden("a member's token may not do this")
        if self.member == "own":
            named = request.path_params.get("member_id") or request.query_params.get("member_id")
            if named is not None and named != caller.member_id:
                gate.events.record(
                    "member_mismatch", request, token_member=caller.member_id, named=named
                )
                raise not_found()
        return caller


def require_store(request: Request, till: KeyHolder, store_id: str | None) -> str:
    """The till's own store; posting for another store is refused and recorded."""
    assert till.store_id is not None
    if store_id is not None and store_id != till.store_id:
        gate_of(request).events.record(
            "store_mismatch", request, key_id=till.key_id, key_store=till.store_id, named=store_id
        )
        raise forbidden(f"this key posts for store {till.store_id} only")
    return till.store_id


def limit(request: Request, window: SlidingWindow, subject: str, event: str) -> None:
    """Count one attempt by `subject`; refuse with 429 once it is over the window."""
    wait = window.retry_after(subject)
    if wait is not None:
        gate_of(request).events.record(event, request, subject=subject)
        raise too_many(wait, "too many attempts; try again later")
    window.record(subject)
