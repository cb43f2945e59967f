"""A raw local HTTP server for the tests and benchmarks of ``authcore.transport``: each
connection is handed to a function that reads its requests and writes, byte for byte,
whatever answers (or silences, or closes) the case needs, which no HTTP server library
would send."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator


class RawServer:
    """Listens on 127.0.0.1 and hands each connection to ``serve`` in a thread of its own;
    the connection is closed when ``serve`` returns, and a client's reset ends it quietly."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._listener.close()


def requests(conn: socket.socket) -> Iterator[bytes]:
    """Each request read from ``conn`` (its head, the blank line, and a body as long as its
    Content-Length says), until the client closes."""
    buffered = b""
    while True:
        while b"\r\n\r\n" not in buffered:
            data = conn.recv(65536)
            if not data:
                return
            buffered += data
        head, _, buffered = buffered.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(buffered) < length:
            data = conn.recv(65536)
            if not data:
                return
            buffered += data
        yield head + b"\r\n\r\n" + buffered[:length]
        buffered = buffered[length:]
