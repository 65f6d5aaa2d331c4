"""Writing model files so a reader never sees a half-written one, and a killed export's temp files do not
stay for good."""

import os
import shutil
import tempfile
from pathlib import Path

from patchcore.errors import StorageError

TEMP_SUFFIX = ".tmp"


def temp_prefix(target: Path) -> str:
    """The start of the name of every temp file or folder made while writing target (hidden, beside it)."""
    return f".{target.name}."


def prepare_to_write(target: Path) -> None:
    """Makes target's folder and checks that it takes a new file, so that a folder that cannot take the model
    is refused before the export rather than after it; removes what an export of target killed while writing
    left there (a temp file as large as the model: a killed process cannot remove its own)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target.parent):
            pass
        for leftover in target.parent.glob(f"{temp_prefix(target)}*{TEMP_SUFFIX}"):
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink(missing_ok=True)
    except OSError as error:
        raise StorageError(f"Cannot write model files to {target.parent}: {error}") from error


def write_atomically(data: bytes, target: Path) -> None:
    """Temp file in the target's directory, fsync, rename over the target, fsync the directory. The temp
    file is removed whatever stops the write, Ctrl-C included."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=temp_prefix(target), suffix=TEMP_SUFFIX
        )
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
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise StorageError(f"Cannot write {target}: {error}") from error
