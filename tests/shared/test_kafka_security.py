"""How a service authenticates to a locked-down broker (pure settings, no broker)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from loyalty_platform.settings import KafkaSettings


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


def test_plaintext_ignores_credentials_it_would_not_use() -> None:
    options = KafkaSettings(sasl_username="points", sasl_password="x").client_options()
    assert set(options) == {"bootstrap_servers", "security_protocol"}


def test_tls_without_sasl_carries_no_login() -> None:
    options = KafkaSettings(security_protocol="SSL").client_options()
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert not any(name.startswith("sasl") for name in options)


def test_the_brokers_ca_file_is_what_the_context_trusts(tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(_self_signed_ca("loyalty test CA"))
    options = KafkaSettings(security_protocol="SASL_SSL", sasl_username="points",
                            sasl_password="x", ssl_cafile=str(cafile)).client_options()  # fmt: skip
    trusted = options["ssl_context"].get_ca_certs()
    assert [dict(pair[0] for pair in ca["subject"])["commonName"] for ca in trusted] == [
        "loyalty test CA"]  # fmt: skip


def test_a_missing_ca_file_fails_when_the_client_is_built(tmp_path: Path) -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=str(tmp_path / "none.pem"))
    with pytest.raises(FileNotFoundError):
        settings.client_options()


@pytest.mark.parametrize(("field", "value"), [("security_protocol", "SASL"),
                                              ("sasl_mechanism", "GSSAPI")])  # fmt: skip
def test_unknown_protocols_and_mechanisms_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        KafkaSettings(**{field: value})


def test_the_refusal_names_the_protocol_and_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)
    with pytest.raises(ValidationError) as refused:
        KafkaSettings()
    assert "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs" in str(refused.value)


def _self_signed_ca(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)
