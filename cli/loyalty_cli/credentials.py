"""Development credentials: what `loyalty up` (and the benchmarks) hand to the services
and print, so the demo and the README's curl examples work. Every key is marked as a
development key, which a production start-up refuses while any still works."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from loyalty_platform.access.credentials import REWARDS_SERVICE_SCOPES, SCOPES, Kind
from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.startup import key_store_at
from loyalty_platform.access.tokens import MemberTokens


@dataclass(frozen=True)
class DevelopmentCredentials:
    token_secret: str
    ops_key: str  # every scope
    till_key: str  # posts for `till_store` only
    till_store: str
    service_key: str  # the rewards service's key
    member_tokens: dict[str, str] = field(default_factory=dict)

    def service_environment(self) -> dict[str, str]:
        """What the services read to verify member tokens and call each other."""
        return {"LOYALTY_TOKEN_SECRET": self.token_secret, "REWARDS_SERVICE_KEY": self.service_key}

    @classmethod
    def read(cls, path: Path) -> DevelopmentCredentials:
        return cls(**json.loads(path.read_text()))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.chmod(path, 0o600)


async def issue_development_credentials(
    database_url: str, *, members: list[str], store_id: str = "store-17"
) -> DevelopmentCredentials:
    async with key_store_at(database_url) as keys:
        ops = await keys.issue(
            Kind.OPS, scopes=frozenset(SCOPES), label="development ops", development=True
        )
        till = await keys.issue(
            Kind.TILL, store_id=store_id, label=f"development till, {store_id}", development=True
        )
        service = await keys.issue(
            Kind.SERVICE, scopes=REWARDS_SERVICE_SCOPES, label="rewards", development=True
        )
    secret = secrets.token_urlsafe(32)
    tokens = MemberTokens(AccessSettings(LOYALTY_TOKEN_SECRET=secret))
    member_tokens = {m: tokens.issue(m, lifetime=timedelta(days=1)) for m in members}
    return DevelopmentCredentials(
        secret, ops.text, till.text, store_id, service.text, member_tokens
    )


def development_credentials(
    database_url: str, *, members: list[str], store_id: str = "store-17"
) -> DevelopmentCredentials:
    return asyncio.run(
        issue_development_credentials(database_url, members=members, store_id=store_id)
    )
