"""How a service authenticates to a locked-down broker (pure settings, no broker)."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from loyalty_shared.settings import KafkaSettings


def test_the_embedded_default_is_plaintext_with_nothing_else() -> None:
    assert KafkaSettings(bootstrap_servers="b:9092").client_options() == {
        "bootstrap_servers": "b:9092", "security_protocol": "PLAINTEXT"}  # fmt: skip


def test_a_sasl_principal_reaches_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                        "KAFKA_SASL_USERNAME": "points",
                        "KAFKA_SASL_PASSWORD": "s3cret"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    options = KafkaSettings().client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("points", "s3cret")
    assert "s3cret" not in repr(KafkaSettings())  # a secret is never printed


def test_tls_brings_a_verifying_context() -> None:
    options = KafkaSettings(security_protocol="SASL_SSL", sasl_username="tiers",
                            sasl_password="x").client_options()  # fmt: skip
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("missing", [{"sasl_username": "points"}, {"sasl_password": "x"},
                                     {"sasl_username": "points", "sasl_password": ""}])  # fmt: skip
def test_sasl_without_a_full_principal_is_refused_at_start(missing: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", **missing)
