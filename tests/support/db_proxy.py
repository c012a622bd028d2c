"""A TCP proxy in front of PostgreSQL that a test can make slow, cut or refuse, as a
flaky network, a failover or a database restart would."""

from __future__ import annotations

import asyncio
import contextlib
import glob
from urllib.parse import parse_qs, urlsplit, urlunsplit


class DatabaseProxy:
    """Listens on 127.0.0.1 and forwards to the server `url` names (its TCP address, or
    its Unix socket for the embedded server). `url_for(database)` is the URL through it."""

    def __init__(self, url: str) -> None:
        self._target = urlsplit(url)
        self.latency = 0.0  # seconds added to every chunk, each way
        self.refusing = False  # new connections are closed at once (a server restarting)
        self.resets = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url_for(self, database: str) -> str:
        user = self._target.username or "postgres"
        return urlunsplit(("postgresql", f"{user}@127.0.0.1:{self.port}", f"/{database}", "", ""))

    def reset(self) -> None:
        """Cut every open connection, as a network fault or a failover does."""
        self.resets += 1
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def stop(self) -> None:
        self.reset()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        socket_dir = parse_qs(self._target.query).get("host", [None])[0]
        if socket_dir:
            [path] = [p for p in glob.glob(f"{socket_dir}/.s.PGSQL.*") if not p.endswith(".lock")]
            return await asyncio.open_unix_connection(path)
        return await asyncio.open_connection(self._target.hostname, self._target.port or 5432)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.transport.abort()
            return
        server_r, server_w = await self._connect()
        self._links |= {client_w, server_w}
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        for writer in (client_w, server_w):
            self._links.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()  # one side gone: the other goes too
