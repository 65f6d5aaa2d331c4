"""Helpers of the bundle tests: running `python -m deploy.bundle` from the source tree, and an environment in
which pip cannot reach any package index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from patchcore_client.local_server import free_port

REPO = Path(__file__).resolve().parents[2]


def run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )


def make_bundle(models: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    """`make bundle MODELS=...` without make (the test's interpreter is the build machine's Python)."""
    return run([sys.executable, "-m", "deploy.bundle", "--models", *models, "--out", out], cwd=REPO)


def offline_environment() -> dict[str, str]:
    """This process's environment without its pip settings and without PYTHONPATH, every index and proxy
    pointing at a port nothing listens on, and PYTHON set to this interpreter (the bundle is built for it)."""
    closed = f"http://127.0.0.1:{free_port()}"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PIP_") and name != "PYTHONPATH" and not name.lower().endswith("_proxy")
    }
    proxies = {name: closed for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    return {
        **environment,
        **proxies,
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_INDEX_URL": f"{closed}/simple",
        "PYTHON": sys.executable,
    }
