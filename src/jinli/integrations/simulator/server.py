"""Serve a simulator on a real socket: from the CLI, or in a background thread for tests and
SDKs that speak blocking HTTP (wechatpayv3 and wechatpy use ``requests``)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from .app import create_simulator_app
from .simulator import Simulator


def public_host(host: str) -> str:
    """The host to put in a base URL for a listening address (wildcards → loopback)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound


class SimulatorServer:
    """Runs ``sim`` under uvicorn in a daemon thread (``with SimulatorServer(sim) as url:``).

    Binds the socket first (port 0 picks a free one), then records the URL as the
    simulator's base URL, so bill ``download_url``s point at this server.
    """

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> str:
        """Start serving; returns the base URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{public_host(self.host)}:{self.port}"
        self.sim.set_base_url(self.base_url)
        config = uvicorn.Config(
            create_simulator_app(self.sim), log_level="warning", lifespan="on", access_log=False
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="wechat-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the simulator server did not start")
            time.sleep(0.01)
        return self.base_url

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
