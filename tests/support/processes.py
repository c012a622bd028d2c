"""Services as separate processes, as production runs them: for tests that kill them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loyalty_cli.stack import free_port
from loyalty_platform.settings import KafkaSettings


def spawn(
    module: str,
    env_prefix: str,
    database_url: str,
    kafka: KafkaSettings,
    log_path: Path,
    programme: Path | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """`python -m module`; `settings` are the service's own variables, without the prefix;
    `programme` the programme file (else the built-in default)."""
    env = {
        **os.environ,
        **({"LOYALTY_PROGRAMME": str(programme)} if programme is not None else {}),
        f"{env_prefix}DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        f"{env_prefix}PORT": str(free_port()),
        **{f"{env_prefix}{name.upper()}": value for name, value in settings.items()},
    }
    log = open(log_path, "ab")  # noqa: SIM115 - the child writes to it
    return subprocess.Popen(
        [sys.executable, "-m", module], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def spendable_at_once(folder: Path) -> Path:
    """A programme file whose points are spendable the moment they are earned, as the
    model programme paid them: for tests about spending, not the lifecycle."""
    path = folder / "spendable-at-once.toml"
    path.write_text("[points]\npending_days = 0\n", encoding="utf-8")
    return path
