"""Reliability and security fixtures: the model the servers started by these tests run.

The tests check behaviour under attack, faults, crashes and load, which does not depend on the backbone, so
they run the tiny contract model (milliseconds per frame): thousands of requests fit in seconds.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import run_command
from tiny_model import write_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny_test_64.onnx")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted at tmp_path/disk: it can be filled to the last byte and remounted read-only,
    which stops root too (unlike chmod). Skips the test without the right to mount."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = run_command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs root with CAP_SYS_ADMIN")
    try:
        yield mount_point
    finally:
        run_command("umount", "-l", str(mount_point))
