"""docker-compose.yml agrees with the settings the services read (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from loyalty_churn.settings import ChurnWatchSettings
from loyalty_cli.services import SERVICES
from loyalty_platform.settings import KafkaSettings, ProgrammeSettings, ServiceSettings
from loyalty_points.settings import PointsSettings
from loyalty_rewards.settings import RewardsSettings
from loyalty_tiers.settings import TiersSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Each service's settings; what its process reads is those (with the nested KAFKA_*
# ones) and the programme file path their default factory loads.
SETTINGS: dict[str, type[ServiceSettings]] = {
    "points": PointsSettings,
    "tiers": TiersSettings,
    "rewards": RewardsSettings,
    "churn-watch": ChurnWatchSettings,
}
INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")
VERSION_TAG = re.compile(r"v?\d+(\.\d+)+\S*")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
POSTGRES_PORT = 5432

Compose = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Compose:
    loaded: Compose = interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))
    return loaded


def interpolate(value: Any) -> Any:
    """Resolve `${VAR:-default}` as compose does without a `.env`; `$$` is a literal `$`."""
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, str):
        return INTERPOLATION.sub(_substitute, value)
    return value


def _substitute(match: re.Match[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    default = match.group("default")
    # A variable without a default would make a fresh `docker compose up` misconfigured.
    assert default is not None, f"{match.group(0)} needs a default"
    return default


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable name a settings class reads, nested settings included."""
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            names |= env_names(field.annotation)
        elif isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def accepted_env(service: str) -> set[str]:
    return env_names(SETTINGS[service]) | env_names(ProgrammeSettings)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {name: str(value) for name, value in env.items()}


def container_port(entry: str | int | dict[str, Any]) -> int:
    if isinstance(entry, dict):
        return int(entry["target"])
    return int(str(entry).split("/")[0].rsplit(":", 1)[-1])


def healthcheck_url(service: dict[str, Any]) -> SplitResult:
    test = service["healthcheck"]["test"]
    command = test if isinstance(test, str) else " ".join(test)
    match = re.search(r"https?://[^\s'\"]+", command)
    assert match, f"no URL in the healthcheck {command!r}"
    return urlsplit(match.group(0))


def listeners(spec: str) -> dict[str, str]:
    """`NAME://host:port,...` as {name: "host:port"}."""
    parsed = (urlsplit(entry.strip()) for entry in spec.split(","))
    return {url.scheme.upper(): url.netloc for url in parsed}


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    _, colon, tag = image.rpartition(":")
    return bool(colon) and "/" not in tag and VERSION_TAG.fullmatch(tag) is not None


def test_every_service_the_platform_runs_is_deployed() -> None:
    assert {spec.name for spec in SERVICES} == set(SETTINGS)
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    for spec in SERVICES:
        assert compose["services"][spec.name]["command"] == ["python", "-m", spec.module]


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_sets_only_variables_its_settings_read(compose: Compose, name: str) -> None:
    unknown = set(environment(compose["services"][name])) - accepted_env(name)
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_listens_on_the_published_and_health_checked_port(
    compose: Compose, name: str
) -> None:
    service = compose["services"][name]
    env = environment(service)
    prefix = SETTINGS[name].model_config.get("env_prefix", "")
    fields = SETTINGS[name].model_fields
    port = int(env.get(f"{prefix}PORT", fields["port"].default))
    # Bound to loopback, the published port would reach nothing.
    assert env.get(f"{prefix}HOST", fields["host"].default) in {"0.0.0.0", "::"}
    assert port in {container_port(entry) for entry in service.get("ports", [])}
    url = healthcheck_url(service)
    assert (url.port, url.path) == (port, "/healthz")


def test_kafka_bootstrap_servers_are_advertised_listeners(compose: Compose) -> None:
    services = compose["services"]
    broker = environment(services["kafka"])
    advertised = listeners(broker["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(broker["KAFKA_LISTENERS"])
    clients = [
        env for env in map(environment, services.values()) if "KAFKA_BOOTSTRAP_SERVERS" in env
    ]
    assert clients, "no service sets KAFKA_BOOTSTRAP_SERVERS"
    for env in clients:
        for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(","):
            server = server.strip()
            names = [name for name, address in advertised.items() if address == server]
            assert names, f"{server} is not in KAFKA_ADVERTISED_LISTENERS {advertised}"
            # Containers reach the broker by its service name, not the host's localhost.
            assert server.rpartition(":")[0] in services
            assert bound[names[0]].rpartition(":")[2] == server.rpartition(":")[2]


@pytest.mark.parametrize("name", SETTINGS)
def test_database_url_names_the_postgres_service(
    compose: Compose, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    services = compose["services"]
    env = environment(services[name])
    prefix = SETTINGS[name].model_config.get("env_prefix", "")
    url = urlsplit(env.get(f"{prefix}DATABASE_URL") or env["DATABASE_URL"])
    assert url.hostname in services, f"{url.hostname} is not a compose service"
    assert services[url.hostname]["image"].startswith("postgres:")
    postgres = environment(services[url.hostname])
    user = postgres.get("POSTGRES_USER", "postgres")
    expected = (user, postgres["POSTGRES_PASSWORD"], postgres.get("POSTGRES_DB", user))
    assert (url.username, url.password, url.path.lstrip("/")) == expected
    assert (url.port or POSTGRES_PORT) == POSTGRES_PORT

    for variable in accepted_env(name):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = SETTINGS[name]()
    assert urlsplit(settings.database_url).hostname == url.hostname
    assert settings.kafka.bootstrap_servers == env["KAFKA_BOOTSTRAP_SERVERS"]


def test_every_image_is_pinned_to_a_version(compose: Compose) -> None:
    images = {name: service.get("image", "") for name, service in compose["services"].items()}
    unpinned = {name: image for name, image in images.items() if not image_is_pinned(image)}
    assert not unpinned, f"images without an explicit version tag: {unpinned}"


def test_every_dependency_waits_on_a_condition(compose: Compose) -> None:
    services = compose["services"]
    problems = []
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        if isinstance(depends_on, list):
            problems.append(f"{name}: depends_on lists services without conditions")
            continue
        for target, spec in depends_on.items():
            condition = (spec or {}).get("condition")
            if condition not in CONDITIONS or target not in services:
                problems.append(f"{name} -> {target}: condition {condition!r}")
            elif condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} -> {target}: waits for health but there is no check")
    assert not problems


@pytest.mark.parametrize("name", SETTINGS)
def test_a_service_starts_after_the_one_shot_steps(compose: Compose, name: str) -> None:
    services = compose["services"]
    depends_on = services[name]["depends_on"]
    steps = {"migrate": ["loyalty", "migrate"], "topics": ["loyalty", "topics", "create"]}
    for step, command in steps.items():
        assert depends_on[step]["condition"] == "service_completed_successfully"
        assert services[step]["command"] == command
        assert services[step].get("restart", "no") == "no"


def test_builds_name_a_dockerfile_that_exists(compose: Compose) -> None:
    builds = [service["build"] for service in compose["services"].values() if "build" in service]
    assert builds, "nothing is built from this repository"
    for build in builds:
        spec = {"context": build} if isinstance(build, str) else build
        dockerfile = ROOT / spec.get("context", ".") / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{dockerfile} does not exist"


def test_rewards_calls_points_and_tiers_where_compose_serves_them(compose: Compose) -> None:
    services = compose["services"]
    env = environment(services["rewards"])
    for variable, target in (("REWARDS_POINTS_URL", "points"), ("REWARDS_TIERS_URL", "tiers")):
        url = urlsplit(env[variable])
        assert url.hostname == target
        assert str(url.port) == environment(services[target])[f"{target.upper()}_PORT"]


# The broker's ACLs, as the kafka-acls step grants them.
PRINCIPAL = {"points": "points", "tiers": "tiers", "rewards": "rewards",
             "churn-watch": "churn-watch"}  # fmt: skip
TILLS = "till-gateway"
ADMIN = "admin"
PUBLISHES = {"points": {"points.events", "purchases.dlq", "purchases"},
             "tiers": {"tiers.events", "purchases.dlq"}, "rewards": {"rewards.events"},
             "churn-watch": {"churn.alerts", "purchases.dlq"}}  # fmt: skip
CONSUMES = {"points": {"purchases"}, "tiers": {"purchases"}, "rewards": set(),
            "churn-watch": {"purchases", "tiers.events", "rewards.events"}}  # fmt: skip
ACL_LINE = re.compile(r"^acl\s+(?P<principal>\S+)\s+(?P<ops>\S+)\s+(?P<kind>topic|group)\s+"
                      r"(?P<name>\S+)$")  # fmt: skip
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
        p for p, op, kind, name in acls(compose) if (kind, name) == ("topic", "purchases")
        and op in {"Write", "All"}
    }  # fmt: skip
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
        ADMIN, jaas_users(client_jaas(compose))[ADMIN])  # fmt: skip


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
        principal, env["KAFKA_SASL_PASSWORD"])  # fmt: skip
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
