"""Who may call the platform: the kinds of caller, the scopes an API key can carry, and
the shape of an API key. Pure: no I/O.

An API key reads `<key_id>.<secret>`. The key id is public (it appears in logs and in
the audit trail of what a key did); the secret is shown once, when the key is issued,
and only its SHA-256 digest is kept. Secrets are 256 random bits, so a fast digest is
enough: there is nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    TILL = "till"  # a store's point-of-sale: posts purchases and refunds for that store
    OPS = "ops"  # people and tools at the retailer: alerts, risk, catalog, adjustments
    SERVICE = "service"  # one platform service calling another (rewards -> points, tiers)


# What an ops or service key may be given; a till's rights come from its kind alone.
SCOPES: dict[str, str] = {
    "points:read": "read any member's balance and ledger",
    "points:adjust": "adjust a member's points by hand, with a reason",
    "points:debit": "spend and restore points for redemptions",
    "tiers:read": "read any member's tier and the tier report",
    "rewards:read": "read the catalog, any member's offers and redemptions",
    "rewards:redeem": "redeem for a member and cancel redemptions",
    "catalog:admin": "create, change, deactivate and restock rewards",
    "churn:read": "read churn alerts, risk scores and the churn summary",
    "churn:model": "fit the churn risk model",
}

# What the rewards service's own key needs of the points and tier services.
REWARDS_SERVICE_SCOPES = frozenset({"points:debit", "points:read", "tiers:read"})

KEY_ID_PATTERN = re.compile(r"^(till|ops|service)_[0-9a-f]{16}$")
_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{32,128}$")


class InvalidKeyRequest(ValueError):
    """A key asked for with rights that do not fit its kind."""


@dataclass(frozen=True)
class KeyHolder:
    """A caller identified by an API key that is known and not revoked."""

    key_id: str
    kind: Kind
    store_id: str | None = None
    till_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    label: str = ""
    development: bool = False

    def may(self, scope: str) -> bool:
        return self.kind is not Kind.TILL and scope in self.scopes


@dataclass(frozen=True)
class MemberCaller:
    """A member's app, identified by a verified token whose subject is the member."""

    member_id: str


Caller = KeyHolder | MemberCaller


@dataclass(frozen=True)
class PresentedKey:
    key_id: str
    secret: str

    def digest(self) -> str:
        return secret_digest(self.secret)


def read_key(text: str) -> PresentedKey | None:
    """The parts of a presented key, or None when it cannot be one of ours."""
    key_id, dot, secret = text.partition(".")
    if not dot or not KEY_ID_PATTERN.match(key_id) or not _SECRET_PATTERN.match(secret):
        return None
    return PresentedKey(key_id, secret)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored.encode(), presented.encode())


def new_key(kind: Kind) -> PresentedKey:
    return PresentedKey(f"{kind.value}_{secrets.token_hex(8)}", secrets.token_urlsafe(32))


def key_text(key: PresentedKey) -> str:
    return f"{key.key_id}.{key.secret}"


def check_rights(kind: Kind, store_id: str | None, scopes: frozenset[str]) -> None:
    """A till belongs to one store and has no scopes; ops and service keys have known
    scopes and no store."""
    if kind is Kind.TILL:
        if not store_id:
            raise InvalidKeyRequest("a till key belongs to a store: give its store id")
        if scopes:
            raise InvalidKeyRequest("a till key takes no scopes: it posts for its store only")
        return
    if store_id:
        raise InvalidKeyRequest(f"a {kind.value} key belongs to no store")
    if not scopes:
        raise InvalidKeyRequest(f"a {kind.value} key needs at least one scope")
    unknown = sorted(scopes - SCOPES.keys())
    if unknown:
        raise InvalidKeyRequest(f"unknown scopes: {', '.join(unknown)}")
