"""The request body limits, enforced before anything parses a body: its size and its time.

A body is refused with 413 when its ``Content-Length`` says it is too large
(``serving.max_body_bytes``), before a byte is read, and also when the bytes actually received
exceed the limit (a chunked body has no ``Content-Length``, and a client may lie). The body is
read into memory up to the limit and then replayed to the application, which would read it
whole anyway to parse the JSON.

A client has ``serving.body_timeout_s`` seconds to send the whole body, from the moment the
server starts reading it: past that the request is answered 408 and the connection closed.
uvicorn (0.54) times out idle keep-alive connections but not a body that stops arriving, so a
request declaring 1,000 bytes and sending 10 held its connection (and its task) for as long
as the client liked. The deadline is for the whole body, not per chunk, so that a client
dripping a byte at a time cannot hold a connection any longer than one that stops.
The number of connections is capped by uvicorn (``serving.max_connections``).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.server._errors import error_response

_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_LOGGER = logging.getLogger("tether.server")


class BodyLimit:
    """ASGI middleware refusing request bodies larger than ``max_bytes`` with 413, and bodies
    not received within ``timeout_s`` seconds with 408 (closing the connection)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared and the actual size, then hand the buffered body on."""
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            response = error_response(
                400,
                "invalid_content_length",
                "The Content-Length header is not a non-negative integer.",
                expected="a byte count",
            )
            await response(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, f"{declared} bytes (Content-Length)")
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                body, more = await self._read(receive)
        except TimeoutError:
            await self._time_out(scope, receive, send)
            return
        if more:
            await self._refuse(scope, receive, send, f"more than {self.max_bytes} bytes")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The body, or a prefix of it and True once it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _time_out(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") or ("?", 0)
        _LOGGER.info(
            "%s %s from %s: the body did not arrive within %s s; answered 408",
            scope["method"], scope["path"], client[0], self.timeout_s,
        )  # fmt: skip
        response = error_response(
            408,
            "body_timeout",
            f"The request body did not arrive within {self.timeout_s:g} seconds "
            "(serving.body_timeout_s); the connection is closed. Send the whole body at once.",
            headers={"Connection": "close"},
            expected=f"the whole body within {self.timeout_s:g} seconds",
        )
        await response(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        response = error_response(
            413,
            "body_too_large",
            f"The request body is {size}; this server accepts at most {self.max_bytes} bytes "
            "(serving.max_body_bytes). Send fewer instances per request.",
            expected=f"at most {self.max_bytes} bytes",
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None if absent, -1 if malformed."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # e.g. http.disconnect, for streaming responses

    return replayed
