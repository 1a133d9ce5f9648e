"""Serving a fake forge on 127.0.0.1: the lifecycle both fakes share."""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

Self = TypeVar("Self", bound="LoopbackServer")


@dataclass
class Fault:
    """An injected failure of a fake forge (its `inject_fault` says which kinds it knows):
    requests whose method and path (an fnmatch glob) match fail, `remaining` more times
    (None: forever); a "latency" fault delays them by `latency_ms` instead."""

    kind: str
    path: str = "*"
    method: str | None = None
    remaining: int | None = 1
    latency_ms: int = 0
    retry_after: int = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)


class ResetConnection(Exception):
    """Raised by an app to make the server drop the connection without a response."""


@functools.lru_cache(maxsize=1)
def quiet_handler_class() -> type:
    """A werkzeug request handler without access logs that can drop a connection."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

        def log_error(self, format: str, *args: Any) -> None:
            pass

        def run_wsgi(self) -> None:
            try:
                super().run_wsgi()
            except ResetConnection:
                # Close with SO_LINGER 0: the client sees a TCP reset, not a response.
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()

    return QuietHandler


class LoopbackServer:
    """Start / stop a WSGI app (the subclass itself) on an ephemeral 127.0.0.1 port."""

    thread_name = "fake-forge"
    _server: Any = None
    _thread: threading.Thread | None = None

    def start(self: Self) -> Self:
        from werkzeug.serving import make_server

        server = make_server(
            "127.0.0.1", 0, self, threaded=True,  # type: ignore[arg-type]
            request_handler=quiet_handler_class(), passthrough_errors=True,
        )
        self._server = server
        self._thread = threading.Thread(
            target=functools.partial(server.serve_forever, poll_interval=0.05),
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @contextlib.contextmanager
    def running(self: Self) -> Iterator[Self]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the fake first"
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def bearer_token(header: str) -> str | None:
    return header.partition(" ")[2].strip() or None


def status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{status} {phrase}"
