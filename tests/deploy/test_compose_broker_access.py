"""docker-compose.yml's broker admits SASL logins only, each principal to just its grants."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from loyalty_platform.settings import KafkaSettings
from tests.support.compose import (
    COMPOSE_FILE,
    SETTINGS,
    Compose,
    accepted_env,
    env_names,
    environment,
    listeners,
)

# The broker's ACLs, as the kafka-acls step grants them.
PRINCIPAL = {
    "points": "points",
    "tiers": "tiers",
    "rewards": "rewards",
    "churn-watch": "churn-watch",
}
TILLS = "till-gateway"
ADMIN = "admin"
PUBLISHES = {
    "points": {"points.events", "purchases.dlq", "purchases"},
    "tiers": {"tiers.events", "purchases.dlq"},
    "rewards": {"rewards.events"},
    "churn-watch": {"churn.alerts", "purchases.dlq"},
}
CONSUMES = {
    "points": {"purchases"},
    "tiers": {"purchases"},
    "rewards": set(),
    "churn-watch": {"purchases", "tiers.events", "rewards.events"},
}
ACL_LINE = re.compile(
    r"^acl\s+(?P<principal>\S+)\s+(?P<ops>\S+)\s+(?P<kind>topic|group)\s+(?P<name>\S+)$"
)
Grant = tuple[str, str, str, str]


def acl_script(compose: Compose) -> str:
    command = compose["services"]["kafka-acls"]["command"]
    return command if isinstance(command, str) else "\n".join(command)


def acls(compose: Compose) -> set[Grant]:
    """(principal, operation, resource type, name) for every grant the step makes."""
    grants = set()
    for line in acl_script(compose).splitlines():
        line = line.strip()
        if line.split(" ", 1)[0] != "acl":
            continue
        match = ACL_LINE.match(line)
        assert match, f"an ACL line the test cannot read: {line!r}"
        principal, operations, kind, name = match.group("principal", "ops", "kind", "name")
        grants |= {(principal, op, kind, name) for op in operations.split(",")}
    return grants


def jaas_users(jaas: str) -> dict[str, str]:
    return dict(re.findall(r'user_([\w.-]+)="([^"]*)"', jaas))


def jaas_login(jaas: str) -> tuple[str, str]:
    found = dict(re.findall(r'(?<![\w.-])(username|password)="([^"]*)"', jaas))
    return found["username"], found["password"]


def broker(compose: Compose) -> dict[str, str]:
    return environment(compose["services"]["kafka"])


def client_jaas(compose: Compose) -> str:
    return broker(compose)["KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"]


def settings_from(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, settings: type[BaseSettings]
) -> Any:
    for variable in env_names(settings):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return settings()


def test_the_broker_refuses_whatever_no_acl_allows(compose: Compose) -> None:
    env = broker(compose)
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == f"User:{ADMIN}"


def test_every_listener_takes_sasl_logins_only(compose: Compose) -> None:
    env = broker(compose)
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners(env["KAFKA_LISTENERS"])) <= set(protocols)
    # The controller listener too: a PLAINTEXT one would make its callers ANONYMOUS.
    assert {name: p for name, p in protocols.items() if not p.startswith("SASL")} == {}
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "PLAIN"
    for name in protocols:
        jaas = env[f"KAFKA_LISTENER_NAME_{name}_PLAIN_SASL_JAAS_CONFIG"]
        users = jaas_users(jaas)
        # The broker logs in to its own listeners as the super user, with its password.
        assert jaas_login(jaas) == (ADMIN, users[ADMIN])
    assert set(jaas_users(env["KAFKA_LISTENER_NAME_CONTROLLER_PLAIN_SASL_JAAS_CONFIG"])) == {ADMIN}


def test_every_principal_with_grants_can_log_in_and_every_login_has_a_use(
    compose: Compose,
) -> None:
    granted = {principal for principal, *_ in acls(compose)}
    assert set(jaas_users(client_jaas(compose))) == granted | {ADMIN}
    assert granted == set(PRINCIPAL.values()) | {TILLS}


def test_the_tills_may_write_purchases_and_nothing_else(compose: Compose) -> None:
    mine = {(op, kind, name) for p, op, kind, name in acls(compose) if p == TILLS}
    assert mine == {("Write", "topic", "purchases"), ("Describe", "topic", "purchases")}


def test_only_the_tills_and_the_points_ingest_may_write_purchases(compose: Compose) -> None:
    writers = {
        p
        for p, op, kind, name in acls(compose)
        if (kind, name) == ("topic", "purchases") and op in {"Write", "All"}
    }
    assert writers == {TILLS, PRINCIPAL["points"]}


def test_grants_name_single_resources_and_principals(compose: Compose) -> None:
    script = acl_script(compose)
    # Wildcards or prefixes would reach topics nobody reviewed.
    assert "--resource-pattern-type" not in script
    # One call of the tool, in the `acl` helper: every grant is an `acl` line read above.
    assert script.count("kafka-acls.sh") == 1
    for principal, op, _, name in acls(compose):
        assert "*" not in principal + name
        assert op in {"Read", "Write", "Describe"}, f"{principal} gets {op} on {name}"


def test_the_acl_step_and_the_health_check_log_in_as_admin(compose: Compose) -> None:
    admin_password = jaas_users(client_jaas(compose))[ADMIN]
    step = compose["services"]["kafka-acls"]
    assert environment(step)["ADMIN_PASSWORD"] == admin_password
    assert "--command-config" in acl_script(compose)
    assert re.search(r'username="admin" password="%s"', acl_script(compose))
    assert step["depends_on"]["kafka"]["condition"] == "service_healthy"
    health = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    assert f'username="admin" password="{admin_password}"' in health
    assert "--command-config" in health


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_starts_after_the_acls_are_in_place(compose: Compose, name: str) -> None:
    depends_on = compose["services"][name]["depends_on"]
    assert depends_on["kafka-acls"]["condition"] == "service_completed_successfully"


def test_the_topic_step_creates_topics_as_admin(
    compose: Compose, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = environment(compose["services"]["topics"])
    kafka = settings_from(env, monkeypatch, KafkaSettings)
    options = kafka.client_options()
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        ADMIN,
        jaas_users(client_jaas(compose))[ADMIN],
    )


def test_passwords_are_development_defaults_a_deployment_overrides() -> None:
    """Each password is a `${VAR:-dev-...}`, the same variable on both sides of a login,
    so setting one variable changes the broker's and the client's copy together."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    jaas = raw["services"]["kafka"]["environment"][
        "KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"
    ]
    broker_side = dict(re.findall(r'user_([\w.-]+)="\$\{(\w+):-dev-[^}]+\}"', jaas))
    assert set(broker_side) == set(jaas_users(jaas))
    assert len(set(broker_side.values())) == len(broker_side), "two principals share a password"
    for name, principal in PRINCIPAL.items():
        password = raw["services"][name]["environment"]["KAFKA_SASL_PASSWORD"]
        assert password == f"${{{broker_side[principal]}:-dev-{principal}}}"
    topics = raw["services"]["topics"]["environment"]["KAFKA_SASL_PASSWORD"]
    assert topics.startswith(f"${{{broker_side[ADMIN]}:-")


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_logs_in_as_itself_and_may_do_just_its_work(
    compose: Compose, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    env = environment(compose["services"][name])
    principal = PRINCIPAL[name]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["KAFKA_SASL_MECHANISM"] == "PLAIN"
    assert env["KAFKA_SASL_USERNAME"] == principal
    assert jaas_users(client_jaas(compose))[principal] == env["KAFKA_SASL_PASSWORD"]
    for variable in accepted_env(name):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = SETTINGS[name]()
    options = settings.kafka.client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "PLAIN"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        principal,
        env["KAFKA_SASL_PASSWORD"],
    )
    group = {("Read", "group", settings.consumer_group)} if CONSUMES[name] else set()
    expected = (
        {("Read", "topic", topic) for topic in CONSUMES[name]}
        | {(op, "topic", topic) for topic in PUBLISHES[name] for op in ("Write", "Describe")}
        | group
    )
    assert {(op, kind, res) for p, op, kind, res in acls(compose) if p == principal} == expected


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_without_its_password_does_not_start(
    compose: Compose, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    env = environment(compose["services"][name])
    del env["KAFKA_SASL_PASSWORD"]
    with pytest.raises(ValueError, match="KAFKA_SASL_PASSWORD"):
        settings_from(env, monkeypatch, KafkaSettings)
