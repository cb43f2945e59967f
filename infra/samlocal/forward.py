"""Containers reach the host through the docker bridge. A forwarder listens on the bridge's
address only (never on the machine's other interfaces) and relays to a service that stays on
127.0.0.1 (the local stack's moto server)."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class Forwarder:
    """Relays TCP connections from the bridge address to a loopback port."""

    def __init__(self, listen_host: str, target_port: int) -> None:
        self._server = socket.create_server((listen_host, 0))
        self.port = int(self._server.getsockname()[1])
        self._target = ("127.0.0.1", target_port)
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=10)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
