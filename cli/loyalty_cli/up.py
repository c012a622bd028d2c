"""`loyalty up`: the whole platform on one machine, on the embedded parts by default."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from loyalty_cli.services import SERVICES
from loyalty_cli.stack import EmbeddedBroker, EmbeddedDatabase, create_database, free_port
from loyalty_platform.access.migrations import MIGRATIONS_DIR as ACCESS_MIGRATIONS
from loyalty_platform.kafka import ensure_topics
from loyalty_platform.migrations import upgrade
from loyalty_platform.settings import KafkaSettings

console = Console()


@dataclass(frozen=True)
class Platform:
    database_url: str
    kafka: KafkaSettings


@contextmanager
def embedded_parts(var_dir: Path, partitions: int) -> Iterator[Platform]:
    """Start what the environment does not point elsewhere: database, broker."""
    with ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            db = EmbeddedDatabase(var_dir / "postgres")
            console.print(f"[dim]starting embedded PostgreSQL in {db.data_dir}[/]")
            db.start()
            stack.callback(db.stop)
            database_url = asyncio.run(create_database(db.url(), "loyalty"))
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            broker = EmbeddedBroker(port=_port_or_free(9092), log_path=var_dir / "broker.log")
            console.print(
                f"[dim]starting embedded Kafka-protocol broker on {broker.bootstrap_servers}[/]"
            )
            broker.start()
            stack.callback(broker.stop)
            bootstrap = broker.bootstrap_servers
        yield Platform(
            database_url,
            KafkaSettings(bootstrap_servers=bootstrap, topic_partitions=partitions),
        )


def prepare(platform: Platform) -> None:
    """Topics and migrations: the steps before any service starts."""
    asyncio.run(ensure_topics(platform.kafka, platform.kafka.topics.all()))
    migrate_all(platform.database_url)


def migrate_all(database_url: str) -> None:
    """The API keys' and every service's migrations, in order."""
    upgrade(ACCESS_MIGRATIONS, database_url)
    console.print("migrated [bold]access[/]")
    for spec in SERVICES:
        upgrade(spec.migrations, database_url)
        console.print(f"migrated [bold]{spec.name}[/]")


def start_services(
    platform: Platform,
    log_dir: Path,
    environment: Mapping[str, str],
    ports: Mapping[str, int] | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Every service as a child process, on its usual port or the one in `ports`, with
    `environment` (credentials, settings) added to the platform's."""
    env = {
        **os.environ,
        **environment,
        "DATABASE_URL": platform.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": platform.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PARTITIONS": str(platform.kafka.topic_partitions),
    }
    processes = []
    for spec in SERVICES:
        log = open(log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115 - owned by the child
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", spec.module],
                env={**env, f"{spec.env_prefix}PORT": str((ports or {}).get(spec.name, spec.port))},
                stdout=log,
                stderr=subprocess.STDOUT,
                # Their own session: Ctrl-C reaches only us, and we stop them one by one
                # with SIGTERM (a second signal would cut a service's graceful stop short).
                start_new_session=True,
            )
        )
    return processes


def wait_ready(timeout: float = 60.0, ports: Mapping[str, int] | None = None) -> None:
    """Until every service (on its usual port, or the one in `ports`) answers /readyz."""
    deadline = time.monotonic() + timeout
    for name, port in (ports or {spec.name: spec.port for spec in SERVICES}).items():
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise TimeoutError(f"{name} did not become ready; see its log ({name}.log)")


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


def _port_or_free(port: int) -> int:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port
