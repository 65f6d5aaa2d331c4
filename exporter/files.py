"""Writing model files so a reader never sees a half-written one."""

import os
import tempfile
from pathlib import Path

from patchcore.errors import StorageError


def write_atomically(data: bytes, target: Path) -> None:
    """Temp file in the target's directory, fsync, rename over the target, fsync the directory."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        Path(temp_name).unlink(missing_ok=True)
        raise StorageError(f"Cannot write {target}: {error}") from error
