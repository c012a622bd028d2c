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
    **settings: str,
) -> subprocess.Popen[bytes]:
    """`python -m module`; `settings` are the service's own variables, without the prefix."""
    env = {
        **os.environ,
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
