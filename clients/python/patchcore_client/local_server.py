"""Runs a patchcore-edge server as a child process on free local ports: for the demo and for test rigs.

Needs the server installed in the same Python environment (`python -m server`); the client library itself
does not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class ServerStartError(RuntimeError):
    """The server process exited or did not answer in time; the message ends with its log."""


class LocalServer:
    """`python -m server` on free ports of 127.0.0.1, its log written to `log_path`.

    Use as a context manager, or call start() and stop(). `extra_args` are further server flags.
    `credentials`: channel credentials to reach a server started with TLS. `env`: variables added to the
    server's environment. `module`: what `python -m` runs (a wrapper around `server`, e.g. in fault tests).
    `web`: serve the operator's page too, on a free port (`page_url`).
    """

    def __init__(
        self,
        model: str | Path,
        store: str | Path,
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        env: Mapping[str, str] | None = None,
        module: str = "server",
        web: bool = False,
    ) -> None:
        self.model = Path(model)
        self.store = Path(store)
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(suffix=".log")[1])
        self.port = 0
        self.metrics_port = 0
        self.credentials = credentials
        self.env = dict(env or {})
        self.module = module
        self.web = web
        self.web_port = 0
        self.process: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def page_url(self) -> str:
        """The operator's page (http; https when the server was given TLS credentials)."""
        return f"{'http' if self.credentials is None else 'https'}://{HOST}:{self.web_port}/"

    def __enter__(self) -> LocalServer:
        """Starts the server unless `start` already did (a second process would be left running)."""
        return self if self.process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 120.0, attempts: int = 3) -> LocalServer:
        """Starts the server and waits until it answers; retries on other ports when a port was taken."""
        failure = ServerStartError("no attempt to start the server was made")
        for _ in range(attempts):
            self.port, self.metrics_port = free_port(), free_port()
            self.web_port = free_port() if self.web else 0
            self.process = self._launch()
            try:
                self._wait_until_answering(timeout)
                return self
            except ServerStartError as error:
                self.stop()
                failure = error
        raise failure

    def stop(self, timeout: float = 30.0) -> int | None:
        """Sends SIGTERM (the server drains) and returns the exit code; kills it after `timeout` seconds."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _launch(self) -> subprocess.Popen:
        command = [
            sys.executable, "-m", self.module,
            "--model", str(self.model),
            "--store", str(self.store),
            "--host", HOST,
            "--port", str(self.port),
            "--metrics-port", str(self.metrics_port),
            "--web-port", str(self.web_port),
            *self.extra_args,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
            )

    def channel(self) -> grpc.Channel:
        """A new channel to the server, with TLS when the server was given credentials."""
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, self.credentials)

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerStartError(f"the server exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(grpc.RpcError):
                    # Health needs no token, so this works whatever auth the server is started with.
                    answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                time.sleep(0.2)
        raise ServerStartError(f"the server did not answer within {timeout:.0f} s:\n{self.log()}")
