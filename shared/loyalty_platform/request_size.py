"""The limit on a request body, enforced before any route reads a byte of it.

Checked on the declared `Content-Length` and again on what actually arrives (a chunked
body declares no length), so no client can make a service hold more than the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty_platform.http import error_body

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413 `payload_too_large`."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        try:
            body = await self._read(receive)
        except _TooLarge:
            await self._refuse(send, None)
            return
        except _ClientGone:
            return  # no one to answer, and half a body is not a request
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body; `_TooLarge` as soon as it passes the limit (the rest unread)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send, declared: int | None) -> None:
        said = f"{declared} bytes" if declared is not None else "more"
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"the request body is {said}; at most {self.max_bytes} bytes are accepted",
            )
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then the client's own."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
