"""What a production start-up refuses in the access settings (pure)."""

from __future__ import annotations

from loyalty_platform.access.settings import AccessSettings, insecure_settings

GOOD = {"LOYALTY_TOKEN_SECRET": "s" * 40, "LOYALTY_TOKEN_ISSUER": "https://id.shop.example"}


def test_a_configured_secret_and_issuer_are_fit() -> None:
    assert insecure_settings(AccessSettings(**GOOD)) == []
    public = {
        "LOYALTY_TOKEN_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----...",
        "LOYALTY_TOKEN_ISSUER": "x",
    }
    assert insecure_settings(AccessSettings(**public)) == []


def test_the_development_defaults_are_not() -> None:
    problems = insecure_settings(AccessSettings())
    assert any("LOYALTY_TOKEN_SECRET" in p for p in problems)
    assert any("LOYALTY_TOKEN_ISSUER" in p for p in problems)


def test_a_short_secret_is_not() -> None:
    problems = insecure_settings(AccessSettings(**{**GOOD, "LOYALTY_TOKEN_SECRET": "short"}))
    assert problems == ["LOYALTY_TOKEN_SECRET is shorter than 32 characters"]
