"""A WSGI app served by cheroot (a production HTTP server with a thread pool) on a
background thread: `incidentbot serve` waits for a signal beside it; the console,
the local Slack stand-in and the tests use it the same way."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from cheroot import wsgi

LISTEN_BACKLOG = 256


class HttpServer:
    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 16) -> None:
        # The listen backlog: cheroot's default of 5 reset connections (ECONNRESET at the
        # sender) when a burst of Slack requests and alert webhooks arrived together.
        self._server = wsgi.Server((host, port), app, numthreads=threads, timeout=30, shutdown_timeout=5,
                                   request_queue_size=LISTEN_BACKLOG)
        # stop() waits for the selector loop to notice; cheroot polls every 0.5 s by
        # default, which would add half a second to every stop (and every test).
        self._server.expiration_interval = 0.05
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def url(self) -> str:
        host = self._server.bind_addr[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.port}"

    def start(self) -> "HttpServer":
        """Bind (so the port is known at once) and serve on a daemon thread."""
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
