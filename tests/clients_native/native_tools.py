"""Helpers the native client tests share: running a program and reading its per-frame lines."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run(command: list[str | Path], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion, capturing stdout and stderr as text."""
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, timeout=timeout
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
