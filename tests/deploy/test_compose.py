"""docker-compose.yml agrees with the settings the services read (no Docker needed)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml

from loyalty_cli.services import SERVICES
from tests.support.compose import (
    COMPOSE_FILE,
    ROOT,
    SETTINGS,
    Compose,
    accepted_env,
    environment,
    listeners,
)

VERSION_TAG = re.compile(r"v?\d+(\.\d+)+\S*")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
POSTGRES_PORT = 5432


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
