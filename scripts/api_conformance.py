"""Schemathesis against every service's OpenAPI document, on a platform of its own.

Starts an embedded PostgreSQL and broker, migrates, issues development credentials,
starts the four services on free ports, then runs `schemathesis run` on each with every
check on (no 5xx, status codes, content types, headers and response bodies as
documented, schema-violating requests refused, schema-valid ones accepted). Exits
non-zero if any service fails. Run by `.ci/run` through `scripts/api-conformance`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from loyalty_cli import up
from loyalty_cli.credentials import DevelopmentCredentials, development_credentials
from loyalty_cli.services import SERVICES
from loyalty_cli.stack import EmbeddedBroker, EmbeddedDatabase, create_database, free_port
from loyalty_platform.settings import KafkaSettings

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=100, help="per operation")
    parser.add_argument("--seed", type=int, default=20261124, help="same seed, same run")
    args = parser.parse_args()
    # A CI job's cancel (SIGTERM) unwinds like Ctrl-C: services stopped, folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="lconf"))
    try:
        with ExitStack() as stack:
            db = EmbeddedDatabase(root / "pg")
            db.start()
            stack.callback(db.stop)
            broker = EmbeddedBroker(port=free_port(), log_path=root / "broker.log")
            broker.start()
            stack.callback(broker.stop)
            database_url = asyncio.run(create_database(db.url(), "loyalty"))
            kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_partitions=2)
            platform = up.Platform(database_url, kafka)
            up.prepare(platform)
            credentials = development_credentials(database_url, members=[MEMBER])
            ports = start_services(stack, root, platform, credentials.service_environment())
            return check_all(runs(ports, credentials), args.max_examples, args.seed)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def start_services(
    stack: ExitStack, root: Path, platform: up.Platform, secrets: dict[str, str]
) -> dict[str, int]:
    ports = {spec.name: free_port() for spec in SERVICES}
    environment = {
        **secrets,
        "REWARDS_POINTS_URL": f"http://127.0.0.1:{ports['points']}",
        "REWARDS_TIERS_URL": f"http://127.0.0.1:{ports['tiers']}",
        # Schemathesis sends requests without credentials on purpose (its ignored_auth
        # check) and hammers one member with redemptions: no abuse limit in its way.
        "ACCESS_FAILED_AUTH_LIMIT": "1000000",
        "REWARDS_REDEMPTIONS_PER_MEMBER": "1000000",
    }
    processes = up.start_services(platform, root, environment, ports)
    stack.callback(up.stop_processes, processes)
    try:
        up.wait_ready(90, ports)
    except TimeoutError:
        for spec in SERVICES:  # the temporary folder goes away: show the logs now
            tail = (root / f"{spec.name}.log").read_text(errors="replace")[-2000:]
            print(f"--- {spec.name}.log (tail) ---\n{tail}", file=sys.stderr)
        raise
    return ports


TILL_ROUTES = ("/v1/purchases", "/v1/refunds")
MEMBER = "member-1"  # schemathesis-member.toml names it too
# What a member token may call: its own balance, ledger, tier and redemptions, the catalog.
MEMBER_ROUTES = r"^/v1/(members/\{member_id\}/(balance|ledger|tier|redemptions)|rewards)$"


def runs(ports: dict[str, int], credentials: DevelopmentCredentials) -> list[Run]:
    """Each service with the ops key (every scope); the till routes with the till key;
    the member routes with a member's token."""
    ops = ["--header", f"X-API-Key: {credentials.ops_key}"]
    till = ["--header", f"X-API-Key: {credentials.till_key}"]
    not_tills = [arg for path in TILL_ROUTES for arg in ("--exclude-path", path)]
    only_tills = [arg for path in TILL_ROUTES for arg in ("--include-path", path)]
    found = [
        Run(name, port, ops + (not_tills if name == "points" else []), "schemathesis.toml")
        for name, port in ports.items()
    ]
    found.append(Run("points, till", ports["points"], till + only_tills, "schemathesis-till.toml"))
    member = [
        "--header",
        f"Authorization: Bearer {credentials.member_tokens[MEMBER]}",
        "--include-path-regex",
        MEMBER_ROUTES,
    ]
    found += [
        Run(f"{name}, member", ports[name], member, "schemathesis-member.toml")
        for name in ("points", "tiers", "rewards")
    ]
    return found


@dataclass(frozen=True)
class Run:
    name: str
    port: int
    options: list[str]
    config: str


def check_all(planned: list[Run], max_examples: int, seed: int) -> int:
    failed = []
    for run in planned:
        started = time.monotonic()
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file",
                str(HERE / run.config),
                "--no-color",
                "run",
                f"http://127.0.0.1:{run.port}/openapi.json",
                *run.options,
                "--checks",
                "all",
                # Our credentials only: generated ones would ride along with ours.
                "--generation-with-security-parameters",
                "false",
                "--generation-database",
                "none",
                "--max-examples",
                str(max_examples),
                "--seed",
                str(seed),
                "--workers",
                "1",
                "--request-timeout",
                "30",
                # Every failure of an operation, not only its first.
                "--continue-on-failure",
            ],
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        verdict = "ok  " if result.returncode == 0 else "FAIL"
        print(f"{run.name:<15} {verdict} {seconds:6.1f} s  {_summary_line(result.stdout)}")
        if result.returncode != 0:
            failed.append(run.name)
            print(result.stdout[-20_000:])
            print(result.stderr[-5_000:], file=sys.stderr)
    return 1 if failed else 0


def _summary_line(output: str) -> str:
    lines = [line.strip("= ") for line in output.splitlines() if line.startswith("====")]
    return lines[-1] if lines else ""


if __name__ == "__main__":
    sys.exit(main())
