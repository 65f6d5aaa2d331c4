"""Helpers the native client tests share: running a program or protoc, reading the per-frame lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "protos"
CPP_SOURCE = REPO / "clients" / "cpp"
PROTO_FILE = "patchcore/edge/v1/inspection.proto"


def run(
    command: list[str | Path],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion, capturing stdout and stderr as text. `env` adds environment variables."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def parse_lines(stdout: str) -> list[tuple[int, str, str]]:
    """[(frame_id, score text, verdict)] of the lines `<frame_id> <score> OK|NG`; a failed frame's line
    `<frame_id> - ERROR <CODE>: <message>` gives (frame_id, "-", "ERROR <CODE>")."""
    rows = []
    for line in stdout.splitlines():
        frame_id, score, verdict, *rest = line.split(" ")
        if verdict == "ERROR":
            verdict = f"ERROR {rest[0].rstrip(':')}"
        rows.append((int(frame_id), score, verdict))
    return rows


def protoc(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Runs protoc with protos/ as the include root: the system's protoc when installed (as a C# or C++
    user has it), else the one bundled with grpcio-tools."""
    command = (
        [shutil.which("protoc")] if shutil.which("protoc") else [sys.executable, "-m", "grpc_tools.protoc"]
    )
    return run([*command, f"-I{PROTO_ROOT}", *args])
