"""Writing model files so a reader never sees a half-written one."""

import os
import tempfile
from pathlib import Path

from patchcore.errors import StorageError


def check_writable(directory: Path) -> None:
    """Creates directory and a nameless file in it, so a folder that cannot take the model is refused before
    the export rather than after it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise StorageError(f"Cannot write model files to {directory}: {error}") from error


def write_atomically(data: bytes, target: Path) -> None:
    """Temp file in the target's directory, fsync, rename over the target, fsync the directory."""
    try:
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
        except OSError:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise StorageError(f"Cannot write {target}: {error}") from error
