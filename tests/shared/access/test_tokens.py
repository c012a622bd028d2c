"""Member tokens: only a token signed for this platform's issuer and audience, not yet
expired, with a member id as subject, speaks for a member."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from loyalty_platform.access.settings import AccessSettings
from loyalty_platform.access.tokens import MemberTokens, TokenRefused

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
SETTINGS = AccessSettings(LOYALTY_TOKEN_SECRET=SECRET, LOYALTY_TOKEN_ISSUER="shop-id")


def claims(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    base: dict[str, object] = {"sub": "member-1", "iss": "shop-id", "aud": "loyalty-api",
                               "iat": now, "exp": now + timedelta(minutes=5)}  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(key: str = SECRET, algorithm: str = "HS256", **changes: object) -> str:
    return jwt.encode(claims(**changes), key, algorithm=algorithm)


def test_a_good_token_names_its_member() -> None:
    tokens = MemberTokens(SETTINGS)
    assert tokens.member(signed()) == "member-1"
    assert tokens.member(tokens.issue("member-2")) == "member-2"


# Made when the test runs, not when it is collected: a suite can take longer than a
# token lives.
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: signed(exp=datetime.now(UTC) - timedelta(minutes=2)), "token_expired"),
        (lambda: signed(aud="another-app"), "token_wrong_audience"),
        (lambda: signed(iss="someone-else"), "token_wrong_issuer"),
        (lambda: signed(key="another-secret-that-is-long-enough-too"), "token_invalid"),
        (lambda: signed(exp=None), "token_invalid"),  # a token that never expires is refused
        (lambda: signed(sub=None), "token_invalid"),
        (lambda: signed(sub="member 1; drop"), "token_invalid"),
        (lambda: jwt.encode(claims(), "", algorithm="none"), "token_invalid"),
        (lambda: "not-a-token", "token_invalid"),
    ],
)
def test_anything_else_is_refused_with_its_reason(make: Callable[[], str], reason: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        MemberTokens(SETTINGS).member(make())
    assert refused.value.reason == reason


def test_expiry_allows_the_configured_clock_skew_and_no_more() -> None:
    tokens = MemberTokens(SETTINGS)  # 30 s of leeway by default
    assert tokens.member(signed(exp=datetime.now(UTC) - timedelta(seconds=20))) == "member-1"
    with pytest.raises(TokenRefused):
        tokens.member(signed(exp=datetime.now(UTC) - timedelta(seconds=40)))


def test_tokens_of_an_identity_service_are_checked_with_its_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = AccessSettings(
        LOYALTY_TOKEN_PUBLIC_KEY=pem, LOYALTY_TOKEN_ALGORITHM="ES256",
        LOYALTY_TOKEN_ISSUER="shop-id",
    )  # fmt: skip
    tokens = MemberTokens(settings)
    assert tokens.member(jwt.encode(claims(), private, algorithm="ES256")) == "member-1"
    # An HS256 token "signed" with the public key text must not pass (algorithm confusion).
    with pytest.raises(TokenRefused):
        tokens.member(hs256_by_hand(claims(), pem))
    with pytest.raises(RuntimeError, match="identity service"):
        tokens.issue("member-1")


def hs256_by_hand(payload: dict[str, object], key: str) -> str:
    """What an attacker would forge with the public key as HMAC secret (PyJWT refuses
    to make one, so it is made here)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in payload.items()}
    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{head}.{part(json.dumps(body).encode())}"
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(mac)}"
